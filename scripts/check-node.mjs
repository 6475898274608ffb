// npm puts node_modules/.bin first on PATH, so scripts run on the Node 22 that the `node` dev
// dependency brings, even where the system Node is 20. Fail loudly if that ever stops being true.
const major = Number(process.versions.node.split('.')[0]);
const minor = Number(process.versions.node.split('.')[1]);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(`callbridge needs Node >= 22.18 (TypeScript type stripping); this is ${process.version}.`);
  console.error('Run through npm (npm test / npm start) so node_modules/.bin/node from the `node` package is used.');
  process.exit(1);
}
console.log(`node ${process.version}`);
