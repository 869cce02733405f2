// The bench's floor: the least any Node program must do with the input — read every byte and count the lines.
// usage: node dist/scripts/bench/count-lines.js FILE   (prints the line count)
import { createReadStream } from 'node:fs';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: count-lines.js FILE\n');
  process.exit(2);
}
let lines = 0;
for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
  const buf = chunk as Buffer;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) lines++;
}
process.stdout.write(`${lines}\n`);
