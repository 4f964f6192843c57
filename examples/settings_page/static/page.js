// The example page: a form bound to the user's settings (plain JS) and a todo list (React).
import { createElement as h, useState } from "react";
import { createRoot, flushSync } from "react-dom/client";
import { connect } from "/statesync/sdk/statesync.js";
import { useInstance } from "/statesync/sdk/react.js";

const DEFAULTS = { displayName: "", theme: "light", fontSize: 16, compact: false };

// Anonymous session, kept in localStorage. Resolves without waiting for the Python runtime:
// until it has booted, the page shows the state fetched over HTTP and edits go straight to
// the server (confirmed one round trip later); where no runtime can boot it stays that way.
const client = await connect();
const status = document.getElementById("status");
client.onStatus(({ status: s, unsaved, error }) => {
  status.dataset.status = s;
  const text = s === "direct" ? `server-direct · ${error.message}` : s;
  status.textContent = unsaved ? `${text} · ${unsaved} change(s) not yet saved` : text;
});

// Both instances are fetched at once: the todo list is named after the user.
const [settings, todo] = await Promise.all([
  client.settings("prefs", DEFAULTS),
  client.instance("todo", client.status.subject, { create: {} }),
]);

// --- the settings form: every field is one setting -------------------------------------------
const form = document.getElementById("settings-form");
const fields = Object.keys(DEFAULTS).map((key) => form.elements.namedItem(key));

/** @param {HTMLInputElement|HTMLSelectElement} field */
function read(field) {
  if (field.type === "checkbox") return field.checked;
  if (field.type === "range") return Number(field.value);
  return field.value;
}

form.addEventListener("input", (event) => {
  const field = event.target;
  settings.set(field.name, read(field)).catch((error) => console.warn("not saved:", error));
});

settings.subscribe((values) => {
  for (const field of fields) {
    if (read(field) === values[field.name]) continue;
    if (field.type === "checkbox") field.checked = values[field.name];
    else field.value = values[field.name];
  }
  document.getElementById("fontSizeValue").textContent = `${values.fontSize}px`;
  document.body.dataset.theme = values.theme;
  document.body.dataset.compact = String(values.compact);
  document.body.style.setProperty("--font-size", `${values.fontSize}px`);
  document.getElementById("greeting").textContent = values.displayName
    ? `${values.displayName}'s` : "Your";
});

// --- the todo list: React, one instance per user ----------------------------------------------

function TodoList() {
  const state = useInstance(todo);
  const [text, setText] = useState("");
  const [error, setError] = useState("");
  const send = (event) => todo.send(event)
    .then(() => setError(""), (e) => setError(`${e.code}: ${e.message}`));
  const add = (event) => {
    event.preventDefault();
    if (!text.trim()) return;
    send({ type: "ADD", text });
    setText("");
  };
  const items = state.context.items;
  return h("div", null,
    h("form", { className: "add", onSubmit: add },
      h("input", { id: "new-item", value: text, placeholder: "Add an item (at most 40 characters)",
                   onChange: (e) => setText(e.target.value) }),
      h("button", { type: "submit" }, "Add")),
    h("ul", { id: "items" }, items.map((item) =>
      h("li", { key: item.id, className: item.done ? "done" : "" },
        h("input", { type: "checkbox", checked: item.done, "aria-label": item.text,
                     onChange: () => send({ type: "TOGGLE", id: item.id }) }),
        h("span", null, item.text)))),
    h("p", { id: "error", className: "error", role: "alert" }, error),
    h("button", { type: "button", onClick: () => send({ type: "CLEAR_DONE" }),
                  disabled: !items.some((i) => i.done) }, "Clear done"));
}

const root = createRoot(document.getElementById("todo"));
flushSync(() => root.render(h(TodoList)));
document.body.dataset.ready = "true";
performance.mark("statesync:first-state"); // page load -> server state shown (bench/browser.py)
