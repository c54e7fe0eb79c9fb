// The entry point: the command line with this deployment's front-ends registered. It is the one
// place that joins src/ (the core, which never imports a protocol) and protocols/.
import { PROTOCOLS } from './protocols/index.js';
import { runCli } from './src/cli.js';

runCli(PROTOCOLS, process.argv);
