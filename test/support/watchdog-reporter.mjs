/**
 * @file A vitest reporter that tells scripts/test.mjs (the watchdog) what the run is doing: which
 * files each project will run, which started and ended and how, and every sign of life in between
 * (a test or hook starting or ending). One JSON object a line, written to the file descriptor named
 * by ONDEVICE_WATCHDOG_FD; without that variable (vitest run directly) it does nothing.
 */
import { writeSync } from 'node:fs';
import { relative } from 'node:path';

const fd = process.env.ONDEVICE_WATCHDOG_FD ? Number(process.env.ONDEVICE_WATCHDOG_FD) : undefined;

/** @param {Record<string, unknown>} event */
function emit(event) {
  if (fd === undefined) return;
  try {
    writeSync(fd, `${JSON.stringify(event)}\n`);
  } catch {
    // The watchdog went away (it is being killed): nothing is listening.
  }
}

/** @param {string} moduleId */
const file = (moduleId) => relative(process.cwd(), moduleId);

/** A test or hook that ran out of time: the one sign a browser engine stopped answering shows. */
const TIMED_OUT = /(Test|Hook) timed out in \d+ms/;

/** @param {ReadonlyArray<{ message?: string }> | undefined} errors */
const timedOut = (errors) => (errors ?? []).some((e) => TIMED_OUT.test(e.message ?? ''));
/**
 * A WebAssembly memory trap, in JavaScriptCore's words or V8's: seen only in WebKit's page shared by
 * every file, see scripts/test.mjs.
 * @param {ReadonlyArray<{ message?: string }> | undefined} errors
 */
const wasmTrap = (errors) => (errors ?? []).some((e) => /Out of bounds memory access|memory access out of bounds/.test(e.message ?? ''));

export default class WatchdogReporter {
  /** @param {ReadonlyArray<{ project: { name: string }, moduleId: string }>} specifications */
  onTestRunStart(specifications) {
    emit({ type: 'run-start', files: specifications.map((s) => ({ project: s.project.name, file: file(s.moduleId) })) });
  }

  /** @param {{ project: { name: string }, moduleId: string }} m */
  onTestModuleStart(m) {
    emit({ type: 'module-start', project: m.project.name, file: file(m.moduleId) });
  }

  /**
   * A hook's timeout is reported on the module or suite it belongs to, not on a test.
   * @param {{ project: { name: string }, moduleId: string, state(): string, errors(): ReadonlyArray<{ message?: string }>, children: { allSuites(): Iterable<{ errors(): ReadonlyArray<{ message?: string }> }> } }} m
   */
  onTestModuleEnd(m) {
    const suites = [...m.children.allSuites()];
    const hookTimedOut = timedOut(m.errors()) || suites.some((s) => timedOut(s.errors()));
    emit({ type: 'module-end', project: m.project.name, file: file(m.moduleId), state: m.state(), timedOut: hookTimedOut });
  }

  /** @param {{ project: { name: string }, module: { moduleId: string }, fullName: string }} t */
  onTestCaseReady(t) {
    emit({ type: 'alive', project: t.project.name, file: file(t.module.moduleId) });
  }

  /** @param {{ project: { name: string }, module: { moduleId: string }, fullName: string, result(): { state: string, errors?: ReadonlyArray<{ message?: string }> } }} t */
  onTestCaseResult(t) {
    const result = t.result();
    emit({ type: 'case', project: t.project.name, file: file(t.module.moduleId), name: t.fullName, state: result.state, timedOut: timedOut(result.errors), trap: wasmTrap(result.errors) });
  }

  /** @param {{ name: string, entity: { project: { name: string } } }} hook */
  onHookStart(hook) {
    emit({ type: 'alive', project: hook.entity.project.name });
  }

  /** @param {{ name: string, entity: { project: { name: string } } }} hook */
  onHookEnd(hook) {
    emit({ type: 'alive', project: hook.entity.project.name });
  }

  /**
   * @param {unknown} _modules
   * @param {ReadonlyArray<unknown>} unhandled
   * @param {string} reason
   */
  onTestRunEnd(_modules, unhandled, reason) {
    emit({ type: 'run-end', reason, unhandled: unhandled.length });
  }
}
