/** @file The worker entry: wiring only. Apps that bring their own Worker import `ondevice/worker` in it. */
import { serveModelHost } from './expose.js';

serveModelHost();
