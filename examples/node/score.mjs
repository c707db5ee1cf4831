// Price houses with the exported graph in Node, on onnxruntime-web's WASM backend:
// the same .onnx file the Python service serves, with no Python in the loop.
//
//   node score.mjs MODEL.onnx ROWS.json
//
// ROWS.json is a list of validated records (Kaggle column names, null for missing),
// as regression_model's validation produces them. The graph reads labels as text
// ("" for missing) and numbers as float64 (NaN for missing); it prints
// {"log_prices": [...], "prices": [...]} as JSON, which round-trips doubles exactly.
import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-web';

ort.env.wasm.numThreads = 1;

// The text the graph expects for a label: what the pipeline's label caster gives
// (MSSubClass 20 and 20.0 are both "20"), and "" for a missing one.
function labelText(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' && Number.isNaN(value)) return '';
  return String(value);
}

function toNumber(value) {
  return value === null || value === undefined ? Number.NaN : Number(value);
}

function columns(session, rows) {
  const feeds = {};
  for (const input of session.inputMetadata) {
    const values = rows.map((row) => row[input.name]);
    feeds[input.name] =
      input.type === 'string'
        ? new ort.Tensor('string', values.map(labelText), [rows.length])
        : new ort.Tensor('float64', Float64Array.from(values, toNumber), [rows.length]);
  }
  return feeds;
}

const [modelPath, rowsPath] = process.argv.slice(2);
if (!modelPath || !rowsPath) {
  console.error('usage: node score.mjs MODEL.onnx ROWS.json');
  process.exit(2);
}
const session = await ort.InferenceSession.create(await readFile(modelPath), {
  executionProviders: ['wasm'],
});
const rows = JSON.parse(await readFile(rowsPath, 'utf8'));
const outputs = await session.run(columns(session, rows));
const logPrices = Array.from(outputs[session.outputNames[0]].data);
console.log(JSON.stringify({ log_prices: logPrices, prices: logPrices.map(Math.exp) }));
