/** @file The library's version, as package.json says (a test keeps them equal): what the crash guard's marks are tied to. */
export const VERSION = '0.1.0';
