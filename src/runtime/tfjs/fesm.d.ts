/** @file Types for the flat ESM build of TF.js's WASM backend (the package declares only its `module` entry). */
declare module '@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.fesm.js' {
  export * from '@tensorflow/tfjs-backend-wasm';
}
