// An editor's queue: the articles awaiting approval (a live query on the `status` index),
// each with Approve, Request changes (with notes) and Reject.
import { connect } from "/statesync/sdk/statesync.js";

const token = new URLSearchParams(location.hash.slice(1)).get("token");
const drafts = document.getElementById("drafts");
const error = document.getElementById("error");

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

async function review(client, name, event) {
  error.textContent = "";
  try {
    const article = await client.instance("article", name);
    await article.send(event);
  } catch (e) {
    error.textContent = `${event.type}: ${e.code ?? ""} ${e.message}`;
  }
}

function render(client, items) {
  drafts.replaceChildren(...items.map(({ instance, context }) => {
    const card = element("article");
    card.dataset.article = instance;
    const draft = context.article;
    const notes = element("input");
    notes.placeholder = "What should change?";
    notes.setAttribute("aria-label", `notes for ${instance}`);
    const button = (label, event) => {
      const b = element("button", label);
      b.addEventListener("click", () => review(client, instance, event()));
      return b;
    };
    card.append(
      element("h2", draft.title),
      element("p", draft.summary),
      element("p", `${draft.tags.join(", ")} · by ${context.author}, draft ${context.attempt}`, "tags"),
      button("Approve", () => ({ type: "APPROVE" })),
      button("Reject", () => ({ type: "REJECT" })),
      notes,
      button("Request changes", () => ({ type: "REQUEST_CHANGES", notes: notes.value })),
    );
    return card;
  }));
}

if (!token) {
  document.getElementById("help").hidden = false;
  document.getElementById("status").textContent = "no token";
} else {
  const client = await connect({ token, machines: false });
  const status = document.getElementById("status");
  client.onStatus(({ status: s }) => (status.dataset.status = status.textContent = s));
  const queue = await client.watch("article", "status", "eq", "awaiting_approval");
  queue.subscribe((items) => render(client, items));
  document.body.dataset.ready = "true";
}
