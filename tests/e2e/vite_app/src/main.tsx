// The page: a todo list of the statesync server given by `?server=` (another origin), with
// `?token=` and `?list=`, and a live query of alice's lists. Every state the page was shown is
// kept in `window.shown` for the test.
import { connect, StatesyncError, type Item, type Machines, type Status } from "@statesync/web";
import { useInstance } from "@statesync/web/react";
import { useEffect, useState, type FormEvent } from "react";
import { createRoot } from "react-dom/client";

type Todo = Machines["todo.list"];

const params = new URLSearchParams(location.search);
const client = await connect({ url: params.get("server")!, token: params.get("token")! });
const list = await client.instance("todo.list", params.get("list")!, { create: { owner: "alice" } });
const lists = await client.watch("todo.list", "owner", "eq", "alice");

/** Type checks only (never called): the handle is typed from the generated machines.d.ts. */
export function typeChecks(): Todo["value"] {
  // @ts-expect-error: no such event
  list.send({ type: "NOPE" });
  // @ts-expect-error: ADD needs its text
  list.send({ type: "ADD" });
  // @ts-expect-error: no such state
  list.matches("closed");
  // @ts-expect-error: no such tag
  list.hasTag("busy");
  list.send("ARCHIVE");
  return list.hasTag("read-only") ? "archived" : list.state.value;
}

declare global {
  interface Window { shown: { texts: string[]; pending: number }[] }
}
window.shown = [];
list.subscribe((state) => {
  const context: Todo["context"] = state.context;
  window.shown.push({ texts: context.items.map((item) => item.text), pending: state.pending });
});

function useLists(): Item<Todo["context"]>[] {
  const [items, setItems] = useState(lists.items);
  useEffect(() => lists.subscribe(setItems), []);
  return items;
}

function App() {
  const state = useInstance(list);
  const owned = useLists();
  const context: Todo["context"] = state.context;
  const [status, setStatus] = useState<Status>(client.status);
  const [error, setError] = useState("");
  useEffect(() => client.onStatus(setStatus), []);

  function add(form: FormEvent<HTMLFormElement>) {
    form.preventDefault();
    const input = form.currentTarget.elements.namedItem("text") as HTMLInputElement;
    const event: Todo["event"] = { type: "ADD", text: input.value };
    input.value = "";
    setError("");
    list.send(event).catch((e: unknown) => setError(e instanceof StatesyncError ? e.code : String(e)));
  }

  return (
    <main data-status={status.status}>
      <h1>{context.owner}'s list</h1>
      <ul data-testid="items">
        {context.items.map((item) => <li key={item.id}>{item.text}</li>)}
      </ul>
      <p data-testid="pending">{state.pending}</p>
      <p data-testid="error">{error}</p>
      <form onSubmit={add}>
        <input name="text" aria-label="text" />
        <button>Add</button>
      </form>
      <ul data-testid="lists">
        {owned.map((item) => <li key={item.instance}>{item.instance}: {item.context.items.length}</li>)}
      </ul>
    </main>
  );
}

createRoot(document.getElementById("root")!).render(<App />);
