// The renderer's only door to the main process: two calls, no Node.
const { contextBridge, ipcRenderer } = require('electron');

contextBridge.exposeInMainWorld('mainModel', {
  classify: (pixels) => ipcRenderer.invoke('model:classify', Array.from(pixels)),
  info: () => ipcRenderer.invoke('model:info'),
});
