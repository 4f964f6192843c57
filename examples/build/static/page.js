// The partitions of one day, live (client.watch on the `date` index), and a button that asks
// for that day's report (a want).
import { connect } from "/statesync/sdk/statesync.js";

const token = new URLSearchParams(location.hash.slice(1)).get("token");
const rows = document.getElementById("partitions");
const dateField = document.getElementById("date");
const error = document.getElementById("error");
let watching = null;

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (className) td.className = className;
  return td;
}

function render(items) {
  rows.replaceChildren(...items.map(({ instance, context }) => {
    const row = document.createElement("tr");
    row.dataset.partition = instance;
    row.dataset.status = context.status;
    row.append(cell(instance), cell(context.status, "status"), cell(context.run),
               cell(context.rows), cell(context.error));
    return row;
  }));
}

async function watchDay(client, day) {
  await watching?.close();
  watching = await client.watch("partition", "date", "eq", day);
  watching.subscribe(render);
}

if (!token) {
  document.getElementById("help").hidden = false;
  document.getElementById("status").textContent = "no token";
} else {
  const client = await connect({ token, machines: false });
  const status = document.getElementById("status");
  client.onStatus(({ status: s }) => (status.dataset.status = status.textContent = s));
  dateField.value = new URLSearchParams(location.hash.slice(1)).get("date")
    ?? new Date().toISOString().slice(0, 10);
  await watchDay(client, dateField.value);
  dateField.addEventListener("change", () => watchDay(client, dateField.value));
  document.getElementById("want").addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const day = dateField.value;
    try {
      await client.instance("want", `report-${day}-${Date.now()}`,
                            { create: { partitions: [`report@${day}`] } });
    } catch (e) {
      error.textContent = `${e.code ?? ""} ${e.message}`;
    }
  });
  document.body.dataset.ready = "true";
}
