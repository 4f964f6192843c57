// A restaurant's open orders, or a courier's job board: one live query, kept up to date by
// the server (client.watch), with the buttons of the role's events.
import { connect } from "/statesync/sdk/statesync.js";

const token = new URLSearchParams(location.hash.slice(1)).get("token");
const list = document.getElementById("orders");
const error = document.getElementById("error");

/** The token's claims (the server verified them; the page only picks its view). */
function claimsOf(jwt) {
  const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(part));
}

function button(label, onClick) {
  const element = document.createElement("button");
  element.textContent = label;
  element.addEventListener("click", onClick);
  return element;
}

async function send(client, name, event) {
  error.textContent = "";
  try {
    const order = await client.instance("order", name);
    await order.send(event);
  } catch (e) {
    error.textContent = `${event.type}: ${e.code ?? ""} ${e.message}`;
  }
}

function render(client, role, items) {
  list.replaceChildren(...items.map((item) => {
    const { context, instance } = item;
    const row = document.createElement("li");
    row.dataset.order = instance;
    const what = context.items.map((i) => `${i.qty}× ${i.name}`).join(", ");
    const where = role === "courier" ? ` → ${context.address}` : "";
    row.append(`${instance}: ${what}${where} `);
    const status = document.createElement("span");
    status.className = "status";
    status.textContent = context.status;
    row.append(status, " ");
    if (role === "restaurant" && context.status === "offered") {
      const prep = document.createElement("input");
      prep.type = "number";
      prep.value = "600";
      prep.setAttribute("aria-label", `preparation seconds for ${instance}`);
      row.append(prep, button("Accept", () => send(client, instance,
        { type: "ACCEPT", prep_seconds: Number(prep.value) })),
        button("Reject", () => send(client, instance, { type: "REJECT", reason: "too busy" })));
    }
    if (role === "courier") {
      row.append(button("Take job", () => send(client, instance,
        { type: "ACCEPT_JOB" })));  // the server assigns the sender
    }
    return row;
  }));
}

if (!token) {
  document.getElementById("help").hidden = false;
  document.getElementById("status").textContent = "no token";
} else {
  const { sub, role } = claimsOf(token);
  document.getElementById("title").textContent =
    role === "restaurant" ? `${sub}: open orders` : `${sub}: open jobs`;
  const client = await connect({ token, machines: false });
  const status = document.getElementById("status");
  client.onStatus(({ status: s }) => (status.dataset.status = status.textContent = s));
  const query = role === "restaurant"
    ? ["order", "open_at", "eq", sub]
    : ["order", "status", "eq", "awaiting_courier"];
  const orders = await client.watch(...query);
  orders.subscribe((items) => render(client, role, items));
  document.body.dataset.ready = "true";
}
