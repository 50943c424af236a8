// SPDX-License-Identifier: MIT
// The acceptance test of faultline's toxiproxy API: toxiproxy-node-client
// (a client nobody here wrote) drives faultline and nothing else does.
// node test.js API_URL UPSTREAM: prints one line per step; exits 1 at the first failure.
'use strict';
const net = require('net');
const { Toxiproxy } = require('toxiproxy-node-client');

const [api, upstream] = process.argv.slice(2);
const fail = (msg) => { console.log('FAIL: ' + msg); process.exit(1); };

// One request on a new connection: what came back, how long it took, how it ended.
function exchange(port, payload, waitMs) {
	return new Promise((resolve) => {
		const t0 = process.hrtime.bigint();
		const s = net.connect(port, '127.0.0.1');
		let got = Buffer.alloc(0), done = false;
		const end = (how) => {
			if (done) return;
			done = true;
			s.destroy();
			resolve({ got: got.toString(), how, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
		};
		s.on('connect', () => s.write(payload));
		s.on('data', (d) => {
			got = Buffer.concat([got, d]);
			if (got.length >= payload.length) end('answered');
		});
		s.on('error', (e) => end(e.code));
		s.on('close', () => end('closed'));
		setTimeout(() => end('silent'), waitMs);
	});
}

(async () => {
	const toxiproxy = new Toxiproxy(api);
	const proxy = await toxiproxy.createProxy({ name: 'echo', listen: '127.0.0.1:0', upstream });
	const port = Number(proxy.listen.split(':')[1]);
	if (!(port > 0)) fail('no port in ' + proxy.listen);
	let r = await exchange(port, 'ping', 5000);
	if (r.how !== 'answered') fail('no echo through the proxy: ' + r.how);
	console.log(`proxy ${proxy.listen}: echo in ${r.ms.toFixed(1)} ms`);

	const lag = await proxy.addToxic({ name: 'lag', type: 'latency', stream: 'downstream', toxicity: 1,
					   attributes: { latency: 300, jitter: 0 } });
	if (lag.type !== 'latency' || lag.attributes.latency !== 300) fail('toxic: ' + JSON.stringify(lag));
	r = await exchange(port, 'ping', 5000);
	if (r.how !== 'answered' || r.ms < 300) fail(`latency 300: ${r.how} in ${r.ms} ms`);
	console.log(`latency 300 ms: echo in ${r.ms.toFixed(1)} ms`);
	const lag2 = await lag.update({ attributes: { latency: 600 }, toxicity: 1 });
	if (lag2.attributes.latency !== 600) fail('update: ' + JSON.stringify(lag2));
	r = await exchange(port, 'ping', 5000);
	if (r.how !== 'answered' || r.ms < 600) fail(`latency 600: ${r.how} in ${r.ms} ms`);
	console.log(`latency updated to 600 ms: echo in ${r.ms.toFixed(1)} ms`);
	const got = await proxy.getToxic('lag');
	if (got.attributes.latency !== 600) fail('getToxic: ' + JSON.stringify(got));
	await lag.remove();

	// timeout: nothing comes back, and after the timeout the connection ends.
	const to = await proxy.addToxic({ type: 'timeout', stream: 'downstream', toxicity: 1,
					  attributes: { timeout: 500 } });
	r = await exchange(port, 'ping', 8000);
	if (r.got !== '' || r.how === 'answered' || r.how === 'silent')
		fail(`timeout: got '${r.got}', ${r.how}`);
	console.log(`timeout 500 ms: nothing came back, the connection ended (${r.how}) after ${r.ms.toFixed(0)} ms`);
	await to.remove();

	const rp = await proxy.addToxic({ type: 'reset_peer', stream: 'upstream', toxicity: 1, attributes: { timeout: 0 } });
	r = await exchange(port, 'ping', 5000);
	if (r.how !== 'ECONNRESET') fail('reset_peer: ' + r.how);
	console.log(`reset_peer: ${r.how}`);
	await rp.remove();

	const ld = await proxy.addToxic({ type: 'limit_data', stream: 'downstream', toxicity: 1, attributes: { bytes: 5 } });
	r = await exchange(port, 'hello world', 5000);
	if (r.got !== 'hello' || r.how === 'answered') fail(`limit_data 5: got '${r.got}', ${r.how}`);
	console.log(`limit_data 5: got '${r.got}', then ${r.how}`);
	await ld.remove();

	await proxy.addToxic({ type: 'latency', attributes: { latency: 100 } });
	await toxiproxy.reset();
	const all = await toxiproxy.getAll();
	const after = await toxiproxy.get('echo');
	if (!all.echo || !after.enabled) fail('reset: ' + JSON.stringify(all));
	r = await exchange(port, 'ping', 5000);
	if (r.how !== 'answered' || r.ms >= 100) console.log(`note: after reset ${r.how} in ${r.ms} ms`);
	if (r.how !== 'answered') fail('no echo after reset');
	console.log('reset: toxics gone, proxy enabled');
	await proxy.remove();
	try {
		await toxiproxy.get('echo');
		fail('a removed proxy is still there');
	} catch (e) {
		if (!/404/.test(e.message)) fail('get after remove: ' + e.message);
	}
	console.log('removed: 404');
	console.log('version ' + (await toxiproxy.getVersion()).trim());
	console.log('ok');
})().catch((e) => fail(e.stack || e));
