// The page: a todo list of the statesync server given by `?server=` (another origin), with
// `?token=` and `?list=`. Every state the page was shown is kept in `window.shown` for the test.
import { connect, StatesyncError, type Machines, type Status } from "@statesync/web";
import { useInstance } from "@statesync/web/react";
import { useEffect, useState, type FormEvent } from "react";
import { createRoot } from "react-dom/client";

type Todo = Machines["todo.list"];

// @ts-expect-error: the generated types know the machine's events
const unknownEvent: Todo["event"] = { type: "NOPE" };
void unknownEvent;

const params = new URLSearchParams(location.search);
const client = await connect({ url: params.get("server")!, token: params.get("token")! });
const list = await client.instance("todo.list", params.get("list")!, { create: { owner: "alice" } });

declare global {
  interface Window { shown: { texts: string[]; pending: number }[] }
}
window.shown = [];
list.subscribe((state) => {
  const context: Todo["context"] = state.context;
  window.shown.push({ texts: context.items.map((item) => item.text), pending: state.pending });
});

function App() {
  const state = useInstance(list);
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
      <ul>
        {context.items.map((item) => <li key={item.id}>{item.text}</li>)}
      </ul>
      <p data-testid="pending">{state.pending}</p>
      <p data-testid="error">{error}</p>
      <form onSubmit={add}>
        <input name="text" aria-label="text" />
        <button>Add</button>
      </form>
    </main>
  );
}

createRoot(document.getElementById("root")!).render(<App />);
