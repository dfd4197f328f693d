// sipsvc popup: call state (from the background's `call` events), and the per-origin
// permission for pages to ask for SameDeviceJoin, granted for the current tab's site and
// revocable here. Permissions live in chrome.storage.local as {allowedOrigins: [...]}.
'use strict';

function el(tag, text, attrs = {}) {
	const e = document.createElement(tag);

	if (text !== undefined)
		e.textContent = text;
	for (const [k, v] of Object.entries(attrs))
		e.setAttribute(k, v);
	return e;
}

async function origins() {
	const { allowedOrigins } = await chrome.storage.local.get('allowedOrigins');

	return Array.isArray(allowedOrigins) ? allowedOrigins : [];
}

async function setOrigins(list) {
	await chrome.storage.local.set({ allowedOrigins: list });
	render();
}

function renderCalls(calls) {
	const ul = document.getElementById('calls');

	ul.replaceChildren();
	if (!calls.length)
		ul.append(el('li', 'no call', { class: 'empty' }));
	for (const c of calls) {
		const legs = Object.entries(c.legs).map(([leg, state]) => `${leg} ${state}`).join(', ');
		const li = el('li', undefined, { 'data-call': c.call });
		const hangup = el('button', 'Hang up');

		hangup.addEventListener('click', () => chrome.runtime.sendMessage({ type: 'hangup', call: c.call }));
		li.append(el('span', `${c.call} ${c.state || ''} ${legs}`.trim()), hangup);
		ul.append(li);
	}
}

function renderOrigins(list) {
	const ul = document.getElementById('origins');

	ul.replaceChildren();
	if (!list.length)
		ul.append(el('li', 'none', { class: 'empty' }));
	for (const o of list) {
		const li = el('li', undefined, { 'data-origin': o });
		const revoke = el('button', 'Revoke', { class: 'revoke' });

		revoke.addEventListener('click', () => setOrigins(list.filter((x) => x !== o)));
		li.append(el('span', o), revoke);
		ul.append(li);
	}
}

// Only web pages can be allowed; the tab's origin is the browser's, not anything a page says.
async function renderSite(list) {
	const div = document.getElementById('site');
	const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
	let origin = null;

	try {
		const u = new URL(tab.url);
		if (u.protocol === 'https:' || u.protocol === 'http:')
			origin = u.origin;
	} catch (e) { /* no URL without activeTab: nothing to allow */ }
	div.replaceChildren();
	if (!origin) {
		div.append(el('span', 'not a web page', { class: 'empty' }));
	} else if (list.includes(origin)) {
		div.append(el('span', `${origin} may switch your call`));
	} else {
		const allow = el('button', `Allow ${origin} to switch my call`, { id: 'allow' });

		allow.addEventListener('click', () => setOrigins([...list, origin]));
		div.append(allow);
	}
}

async function render() {
	const state = await chrome.runtime.sendMessage({ type: 'state' });
	const list = await origins();

	renderCalls(state.calls || []);
	renderOrigins(list);
	await renderSite(list);
	document.getElementById('problem').textContent = state.problem || '';
}

async function connect() {
	const res = await chrome.runtime.sendMessage({ type: 'connect' });
	const d = document.getElementById('daemon');
	const status = res.ok && res.reply.children && res.reply.children[0];

	d.className = res.ok ? '' : 'bad';
	d.textContent = res.ok ? `sipsvcd ${status ? status.attrs.version : ''} is running`
			       : `sipsvcd: ${res.message}`;
}

chrome.storage.onChanged.addListener(render);
connect().then(render);
setInterval(render, 1000);
