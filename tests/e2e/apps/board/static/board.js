// The board (React): the "todo" column as a live query, one task by name, a status line.
// The token comes from the page's URL: /?token=...&task=...
import { createElement as h, StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { StatesyncProvider, useInstance, useQuery, useSettings, useStatesync }
  from "/statesync/sdk/react.js";

const params = new URLSearchParams(location.search);

function Status() {
  const { status } = useStatesync();
  return h("p", { id: "status" }, status?.status ?? "starting");
}

function Column({ column }) {
  const { items, loading, ended, error } = useQuery("task", "column", "eq", column, { live: true });
  if (loading) return h("p", { id: "loading" }, "loading");
  return h("ul", { id: column, "data-ended": ended ? error?.code ?? "closed" : "no" },
    items.map((item) => h("li", { key: item.instance }, `${item.instance}:${item.context.title}`)));
}

function Task({ name }) {
  const task = useInstance("task", name);
  if (task.error) return h("p", { id: "task-error" }, task.error.code);
  if (!task.state) return h("p", null, "...");
  return h("section", { id: "task", "data-pending": task.pending },
    h("span", { id: "column" }, task.context.column),
    h("span", { id: "open" }, String(task.matches("open"))),
    h("button", { id: "assign", onClick: () => task.send({ type: "ASSIGN", who: "me" }) }, "assign"),
    h("button", { id: "start", disabled: !task.can("START"), onClick: () => task.send("START") },
      "start"));
}

function Theme() {
  const prefs = useSettings("board", { theme: "light" });
  return h("button", { id: "theme", onClick: () => prefs.set("theme", "dark") }, prefs.values.theme);
}

createRoot(document.getElementById("root")).render(
  h(StrictMode, null,
    h(StatesyncProvider, { token: params.get("token") },
      h(Status), h(Theme), h(Column, { column: "todo" }), h(Task, { name: params.get("task") }))));
