/**
 * React as an ES module for pages without a bundler: React 18's UMD build (served by the
 * statesync server from sdk_web/node_modules; React 19 ships CommonJS only). Map the bare
 * specifier in the page: <script type="importmap">{"imports": {"react": ".../vendor/react.js"}}
 */
import "./react.umd.js";

const React = globalThis.React;
export default React;
export const {
  Children, Component, Fragment, StrictMode, createContext, createElement, forwardRef, memo,
  startTransition, useCallback, useContext, useDebugValue, useDeferredValue, useEffect, useId,
  useLayoutEffect, useMemo, useReducer, useRef, useState, useSyncExternalStore, useTransition,
} = React;
