/** The page: classify one digit in the renderer and in the main process, side by side. */
import { rendererModel } from './classify.mjs';

// An 8×8 "1": a vertical stroke.
const pixels = new Float32Array(64);
for (let row = 1; row < 7; row++) pixels[row * 8 + 4] = 16;

const here = await rendererModel('/models/digits/manifest.json');
const local = await here.classify(pixels);
document.querySelector('#renderer').textContent = `${local.digit} (version ${local.version}, ${here.info.backend})`;

const remote = await window.mainModel.classify(pixels);
document.querySelector('#main').textContent = `${remote.digit} (version ${remote.version})`;
