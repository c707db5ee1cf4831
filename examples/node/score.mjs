// Price houses with the exported graph in Node, on onnxruntime-web's WASM backend:
// the same .onnx file the Python service serves, with no Python in the loop.
//
//   node score.mjs MODEL.onnx ROWS.json
//
// ROWS.json is a list of validated records (Kaggle column names, null for missing),
// as regression_model's validation produces them. The graph takes two inputs, one
// row per column and one column per house: `numbers` (float64, NaN for missing)
// and `labels` (text, "" for missing); which column each row holds is written in
// the model file's metadata_props, read here straight from the file. It prints
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

// The model's metadata_props (ModelProto field 14: key = 1, value = 2), read
// with a minimal protobuf walk, since onnxruntime-web does not expose them.
function metadataProps(bytes) {
  let at = 0;
  const varint = () => {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = bytes[at++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
  };
  const text = (start, end) => new TextDecoder().decode(bytes.subarray(start, end));
  const props = {};
  while (at < bytes.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 0) varint();
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const length = varint();
      const end = at + length;
      if (field === 14) {
        let key = '';
        let value = '';
        while (at < end) {
          const entryTag = varint();
          const size = varint();
          if (entryTag === (1 << 3) + 2) key = text(at, at + size);
          else if (entryTag === (2 << 3) + 2) value = text(at, at + size);
          at += size;
        }
        props[key] = value;
      }
      at = end;
    } else throw new Error(`unexpected protobuf wire type ${wire}`);
  }
  return props;
}

// One row per named column, one column per house, feature-major as the graph reads it.
function inputs(props, rows) {
  const numbers = props.numbers.split(',');
  const labels = props.labels ? props.labels.split(',') : [];
  const flatNumbers = new Float64Array(numbers.length * rows.length);
  numbers.forEach((name, i) =>
    rows.forEach((row, j) => {
      flatNumbers[i * rows.length + j] = toNumber(row[name]);
    }),
  );
  const feeds = {
    numbers: new ort.Tensor('float64', flatNumbers, [numbers.length, rows.length]),
  };
  if (labels.length) {
    const texts = labels.flatMap((name) => rows.map((row) => labelText(row[name])));
    feeds.labels = new ort.Tensor('string', texts, [labels.length, rows.length]);
  }
  return feeds;
}

const [modelPath, rowsPath] = process.argv.slice(2);
if (!modelPath || !rowsPath) {
  console.error('usage: node score.mjs MODEL.onnx ROWS.json');
  process.exit(2);
}
const model = new Uint8Array(await readFile(modelPath));
const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'] });
const rows = JSON.parse(await readFile(rowsPath, 'utf8'));
const outputs = await session.run(inputs(metadataProps(model), rows));
const logPrices = Array.from(outputs[session.outputNames[0]].data);
console.log(JSON.stringify({ log_prices: logPrices, prices: logPrices.map(Math.exp) }));
