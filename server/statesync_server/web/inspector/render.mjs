// `node render.mjs ELK_BUNDLE < chart.json > chart.svg`: what `statesync diagram --format svg`
// runs; the same layout and drawing as the inspector (statechart.js).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { layoutChart, renderSvg } from "./statechart.js";

const [elkBundle, direction = "RIGHT"] = process.argv.slice(2);
const ELK = createRequire(import.meta.url)(elkBundle);
const { graph, collapsed = [], title = "" } = JSON.parse(readFileSync(0, "utf8"));
const laid = await layoutChart(new ELK(), graph, { collapsed: new Set(collapsed), direction });
process.stdout.write(renderSvg(laid, { title }) + "\n");
