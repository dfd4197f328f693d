// The browser half of tests/browser/test-browser: Debian's Chromium with the sipsvc extension,
// a test page, and a client subscribed to the daemon's log events to see what arrives.
// Environment (set by test-browser): PLAYWRIGHT, CHROMIUM, EXT_DIR, EXT_ID, USER_DATA_DIR,
// PAGE_URL, OTHER_URL, CONTROL_SOCKET; SIPSVC_RUNTIME_DIR reaches the relay through the browser.
'use strict';

const net = require('net');
const assert = require('assert');
const { chromium } = require(process.env.PLAYWRIGHT);

const env = process.env;
const REQUEST_RE = /request (\S+)(?: ref=(\S+))?<\/Event>$/;

// Every request the daemon logs, in order.
class DaemonLog {
	constructor(path) {
		this.path = path;
		this.seen = [];
		this.waiters = [];
		this.markers = 0;
	}

	async start() {
		this.sock = net.connect(this.path);
		let buf = '';
		await new Promise((resolve, reject) => {
			this.sock.once('error', reject);
			this.sock.on('data', (d) => {
				buf += d.toString();
				let nl;
				while ((nl = buf.indexOf('\n')) >= 0) {
					const line = buf.slice(0, nl);
					buf = buf.slice(nl + 1);
					if (line.startsWith('<Ok ref="log"'))
						resolve();
					this.onLine(line);
				}
			});
			this.sock.write('<Subscribe events="log" ref="log"/>');
		});
	}

	onLine(line) {
		const m = line.startsWith('<Event') && REQUEST_RE.exec(line);
		if (!m)
			return;
		this.seen.push({ name: m[1], ref: m[2] || null });
		this.waiters = this.waiters.filter((w) => !w());
	}

	// Resolves with the index of the first request from @from on that matches.
	waitFor(from, pred, what, ms = 10000) {
		return new Promise((resolve, reject) => {
			const timer = setTimeout(() => reject(new Error(`the daemon never received ${what}`)), ms);
			const check = () => {
				const i = this.seen.findIndex((r, k) => k >= from && pred(r));
				if (i < 0)
					return false;
				clearTimeout(timer);
				resolve(i);
				return true;
			};
			if (!check())
				this.waiters.push(check);
		});
	}

	// A Status with a fresh ref through its own connection; once the daemon logged it,
	// everything sent before it has been logged.
	async sync() {
		const ref = `marker${++this.markers}`;
		const s = net.connect(this.path);
		s.on('error', () => {});
		s.end(`<Status ref="${ref}"/>`);
		return this.waitFor(0, (r) => r.name === 'Status' && r.ref === ref, ref);
	}

	async assertNone(from, names, why) {
		const upto = await this.sync();
		const got = this.seen.slice(from, upto).filter((r) => names.includes(r.name));
		assert.deepStrictEqual(got, [], `${why}: the daemon received ${JSON.stringify(got)}`);
	}

	close() {
		this.sock.destroy();
	}
}

const tests = [];
function test(name, fn) {
	tests.push({ name, fn });
}

const JOINS = ['ExternalJoin', 'SameDeviceJoin'];
const pageOrigin = new URL(env.PAGE_URL).origin;
const otherOrigin = new URL(env.OTHER_URL).origin;
let log, context, worker, page;

async function allow(origins) {
	await worker.evaluate((list) => chrome.storage.local.set({ allowedOrigins: list }), origins);
}

test('the extension is loaded with its fixed id', async () => {
	assert.strictEqual(new URL(worker.url()).host, env.EXT_ID);
});

test('a click on a sip: link is an ExternalJoin at the daemon', async () => {
	const from = log.seen.length;
	await page.click('#call');
	const i = await log.waitFor(from, (r) => r.name === 'ExternalJoin', 'ExternalJoin');
	assert.match(log.seen[i].ref, /^x\d+$/); // sent by the extension's background
	const upto = await log.sync();
	assert.strictEqual(log.seen.slice(from, upto).filter((r) => r.name === 'ExternalJoin').length, 1);
	assert.strictEqual(page.url(), env.PAGE_URL); // the browser did not navigate to sip:
});

test('a click on a tel: link is an ExternalJoin too', async () => {
	const from = log.seen.length;
	await page.click('#tel');
	await log.waitFor(from, (r) => r.name === 'ExternalJoin', 'ExternalJoin');
});

test('a scripted click and a plain link place no call', async () => {
	const from = log.seen.length;
	await page.evaluate(() => document.getElementById('call').click());
	await page.click('#web');
	await log.assertNone(from, JOINS, 'a.click() from the page');
});

test('SameDeviceJoin from an origin not allowed is refused', async () => {
	const from = log.seen.length;
	const res = await page.evaluate(() => askSwitch('sip:room1@conf.example.com'));
	assert.strictEqual(res.ok, false);
	assert.strictEqual(res.error, 'not-allowed');
	assert.match(res.message, /allow it in the sipsvc popup/);
	await log.assertNone(from, JOINS, 'a page that was not allowed');
});

test('after the user allows the origin, SameDeviceJoin reaches the daemon', async () => {
	await allow([pageOrigin]);
	const from = log.seen.length;
	const res = await page.evaluate(() => askSwitch('sip:room1@conf.example.com'));
	await log.waitFor(from, (r) => r.name === 'SameDeviceJoin', 'SameDeviceJoin');
	// The daemon's own answer comes back to the page (it may not implement the request yet).
	assert.notStrictEqual(res.error, 'not-allowed');
	assert.notStrictEqual(res.error, 'invalid');
});

test('an allowed page still cannot send a bad URI or a non-string', async () => {
	const from = log.seen.length;
	let res = await page.evaluate(() => askSwitch('javascript:alert(1)'));
	assert.deepStrictEqual([res.ok, res.error], [false, 'invalid']);
	res = await page.evaluate(() => askSwitch(5));
	assert.deepStrictEqual([res.ok, res.error], [false, 'invalid']);
	await log.assertNone(from, JOINS, 'an invalid id');
});

test('another origin stays refused', async () => {
	const other = await context.newPage();
	await other.goto(env.OTHER_URL);
	const from = log.seen.length;
	const res = await other.evaluate(() => askSwitch('sip:room2@conf.example.com'));
	assert.strictEqual(res.error, 'not-allowed');
	await log.assertNone(from, JOINS, `${otherOrigin}, not allowed`);
	await other.close();
});

test('the popup lists the allowed origin and revokes it', async () => {
	const popup = await context.newPage();
	await popup.goto(`chrome-extension://${env.EXT_ID}/popup.html`);
	await popup.waitForSelector('#daemon:has-text("is running")');
	const item = popup.locator(`#origins li[data-origin="${pageOrigin}"]`);
	await item.waitFor();
	await item.locator('button.revoke').click();
	await popup.waitForSelector(`#origins li[data-origin="${pageOrigin}"]`, { state: 'detached' });
	await popup.close();
	const from = log.seen.length;
	const res = await page.evaluate(() => askSwitch('sip:room1@conf.example.com'));
	assert.strictEqual(res.error, 'not-allowed');
	await log.assertNone(from, JOINS, 'a revoked origin');
});

async function setUp() {
	log = new DaemonLog(env.CONTROL_SOCKET);
	await log.start();
	context = await chromium.launchPersistentContext(env.USER_DATA_DIR, {
		executablePath: env.CHROMIUM,
		headless: true,
		args: [
			'--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync',
			`--disable-extensions-except=${env.EXT_DIR}`, `--load-extension=${env.EXT_DIR}`,
		],
	});
	[worker] = context.serviceWorkers();
	if (!worker)
		worker = await context.waitForEvent('serviceworker', { timeout: 15000 });
	page = await context.newPage();
	await page.goto(env.PAGE_URL);
}

async function main() {
	let failed = 0;
	const t0 = Date.now();

	try {
		await setUp();
	} catch (e) {
		console.log(`not ok - setup: ${e.stack || e}`);
		tests.length = 0;
		failed = 1;
	}
	for (const t of tests) {
		try {
			await t.fn();
			console.log(`ok - ${t.name}`);
		} catch (e) {
			failed++;
			console.log(`not ok - ${t.name}\n${e.stack || e}`);
		}
	}
	if (context)
		await context.close();
	if (log)
		log.close();
	console.log(`browser: ${tests.length - Math.min(failed, tests.length)} passed, ${failed} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
	process.exit(failed ? 1 : 0);
}

main();
