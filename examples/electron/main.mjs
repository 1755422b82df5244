/**
 * Electron wiring only: a window whose pages come from the app:// scheme (a standard, secure origin,
 * so the renderer has IndexedDB, OPFS, Web Locks, WebCrypto and WebGPU), and IPC to the model service.
 */
import { app, BrowserWindow, ipcMain, net, protocol } from 'electron';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createModelService } from './model-service.mjs';

const here = import.meta.dirname;
// The release to serve: a CDN in production; here the digits release copied beside the app.
const MANIFEST = process.env.ONDEVICE_MANIFEST ?? join(here, 'models/digits/manifest.json');

protocol.registerSchemesAsPrivileged([{ scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true } }]);

app.whenReady().then(async () => {
  // app://bundle/… serves the built renderer and the release (the renderer's model host).
  protocol.handle('app', (request) => {
    const path = decodeURIComponent(new URL(request.url).pathname);
    const root = path.startsWith('/models/') ? here : join(here, 'dist/renderer');
    const file = join(root, path === '/' ? 'index.html' : path);
    if (!file.startsWith(root)) return new Response('not found', { status: 404 });
    return net.fetch(pathToFileURL(file).href);
  });
  const service = await createModelService({ manifestUrl: MANIFEST, cacheDir: join(app.getPath('userData'), 'models') });
  ipcMain.handle('model:classify', (_event, pixels) => service.classify(Float32Array.from(pixels)));
  ipcMain.handle('model:info', () => service.info());
  app.on('will-quit', () => void service.dispose());
  const window = new BrowserWindow({ width: 720, height: 520, webPreferences: { preload: join(here, 'preload.cjs'), contextIsolation: true, sandbox: true } });
  await window.loadURL('app://bundle/');
});

app.on('window-all-closed', () => app.quit());
