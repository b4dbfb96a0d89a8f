// Load generator for `modelslim serve` (scripts/serve-bench.sh): `clients` concurrent clients each send
// `requests` greedy completions one after another; prints the total completion tokens per second.
//   node bench/serve_clients.mjs URL CLIENTS REQUESTS MAX_TOKENS
const [url, clients, requests, maxTokens] = process.argv.slice(2);
const prompts = ['And God said', 'In the beginning', 'The LORD is my shepherd', 'And it came to pass'];

async function client(id) {
  let tokens = 0;
  for (let i = 0; i < Number(requests); ++i) {
    const response = await fetch(url + '/v1/completions', {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({prompt: prompts[(id + i) % prompts.length], max_tokens: Number(maxTokens), temperature: 0}),
    });
    if (response.status !== 200) throw new Error('HTTP ' + response.status + ': ' + (await response.text()));
    tokens += (await response.json()).usage.completion_tokens;
  }
  return tokens;
}

const start = process.hrtime.bigint();
const counts = await Promise.all(Array.from({length: Number(clients)}, (_, id) => client(id)));
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const tokens = counts.reduce((a, b) => a + b, 0);
console.log(`clients ${clients}: ${tokens} tokens in ${seconds.toFixed(2)} s = ${(tokens / seconds).toFixed(1)} tokens/s`);
