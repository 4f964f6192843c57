/**
 * React as an ES module for pages without a bundler: React 18.3.1's UMD build (react.umd.js,
 * vendored with its MIT license, REACT-LICENSE; React 19 ships CommonJS only). Map the bare
 * specifier in the page: <script type="importmap">{"imports": {"react": ".../vendor/react.js"}}
 */
import "./react.umd.js";

const React = globalThis.React;
export default React;
export const {
  Children, Component, Fragment, Profiler, PureComponent, StrictMode, Suspense, cloneElement,
  createContext, createElement, createRef, forwardRef, isValidElement, lazy, memo,
  startTransition, useCallback, useContext, useDebugValue, useDeferredValue, useEffect, useId,
  useImperativeHandle, useInsertionEffect, useLayoutEffect, useMemo, useReducer, useRef,
  useState, useSyncExternalStore, useTransition,
} = React;
