/** ReactDOM (with `createRoot`) as an ES module: React 18's UMD build, see ./react.js. */
import "./react.js";
import "./react-dom.umd.js";

const ReactDOM = globalThis.ReactDOM;
export default ReactDOM;
export const { createPortal, createRoot, flushSync, hydrateRoot } = ReactDOM;
