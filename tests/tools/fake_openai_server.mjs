// A fake OpenAI-compatible server for the service_oriented tests: third-party code (node's http module), not
// ours, with deterministic canned answers.
//   node fake_openai_server.mjs --answers answers.json [--port N] [--host H] [--startup-delay-ms N]
//        [--exit-after-ms N] [--child-pid-file F]
// answers.json maps a prompt (or a chat message) to {text} | {status, times?} | {delay_ms, text}: `times`
// makes the status apply to the first N requests only. Unknown prompts get "I do not know.".
// Echo + logprobs: every character is a token whose logprob is -((code % 7) + 1) / 10.
// GET /stats answers {"completions": n, "chat": n}. Prints "LISTENING <port>" once it listens.
import http from 'node:http';
import fs from 'node:fs';
import { spawn } from 'node:child_process';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf('--' + name);
  return i >= 0 ? args[i + 1] : fallback;
};
const answers = option('answers') ? JSON.parse(fs.readFileSync(option('answers'), 'utf8')) : {};
const seen = {};
const stats = { completions: 0, chat: 0 };

const charLogprob = (c) => -(((c.codePointAt(0) % 7) + 1) / 10);

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function echoLogprobs(prompt) {
  const chars = Array.from(prompt);
  const generated = 'x';
  const tokens = [...chars, generated];
  let offset = 0;
  const text_offset = tokens.map((t) => { const o = offset; offset += 1; return o; });
  const token_logprobs = tokens.map((t, i) => (i === 0 ? null : charLogprob(t)));
  return { text: prompt + generated, logprobs: { tokens, token_logprobs, text_offset, top_logprobs: null } };
}

function handle(req, res, body) {
  if (req.method === 'GET' && req.url === '/v1/models') return reply(res, 200, { object: 'list', data: [{ id: 'fake' }] });
  if (req.method === 'GET' && req.url === '/stats') return reply(res, 200, stats);
  const chat = req.url === '/v1/chat/completions';
  if (req.method !== 'POST' || !(chat || req.url === '/v1/completions')) return reply(res, 404, { error: 'not found' });
  const request = JSON.parse(body);
  stats[chat ? 'chat' : 'completions'] += 1;
  const prompt = chat ? request.messages[request.messages.length - 1].content : request.prompt;
  if (!chat && request.echo) return reply(res, 200, { choices: [{ index: 0, ...echoLogprobs(prompt) }] });
  const canned = answers[prompt] ?? { text: 'I do not know.' };
  seen[prompt] = (seen[prompt] ?? 0) + 1;
  const send = () => {
    if (canned.status && (canned.times === undefined || seen[prompt] <= canned.times))
      return reply(res, canned.status, { error: { message: 'canned failure', code: canned.status } });
    const text = canned.text ?? '';
    reply(res, 200, { choices: [chat ? { index: 0, message: { role: 'assistant', content: text } } : { index: 0, text }] });
  };
  if (canned.delay_ms) setTimeout(send, canned.delay_ms); else send();
}

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => handle(req, res, body));
});
const listen = () => setTimeout(() => {
  server.listen(Number(option('port', '0')), option('host', '127.0.0.1'), () => {
    process.stdout.write(`LISTENING ${server.address().port}\n`);
  });
}, Number(option('startup-delay-ms', '0')));
if (option('exit-after-ms')) setTimeout(() => process.exit(3), Number(option('exit-after-ms')));
if (option('child-pid-file')) {
  // A member of the process group that ignores SIGTERM: stopping the engine must still end it. The server
  // listens only once the child ignores SIGTERM.
  const script = "process.on('SIGTERM', () => {}); process.stdout.write('ready\\n'); setInterval(() => {}, 1000);";
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  fs.writeFileSync(option('child-pid-file'), String(child.pid));
  child.stdout.once('data', listen);
} else {
  listen();
}
