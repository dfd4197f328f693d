// sipsvc background: the one connection to sipsvc-relay (native messaging host
// org.sipsvc.relay), the per-origin permission for SameDeviceJoin, and the call state the
// popup shows. The relay's JSON is described in clients/relay/README.
'use strict';

const HOST = 'org.sipsvc.relay';
const ENDED = new Set(['ended', 'failed', 'transferred']);

let port = null;
let subscribed = null;     // the Subscribe sent on this connection, null: none yet
let nextRef = 1;
const pending = new Map(); // ref → resolve of the request waiting for its reply
const calls = new Map();   // call id → { call, state, legs: { device, remote } }
let problem = '';          // why the daemon cannot be reached, for the popup
const LINK_ERRORS = new Set(['relay', 'unreachable', 'disconnected', 'too-large', 'internal']);

function fail(error, message) {
	return { ok: false, error, message };
}

// The relay or the daemon is gone, and with it the calls we knew of, our subscription and
// the replies still awaited.
function lost(error, why) {
	subscribed = null;
	problem = why;
	calls.clear();
	for (const resolve of pending.values())
		resolve(fail(error, why));
	pending.clear();
}

function onDisconnect() {
	port = null;
	lost('relay', chrome.runtime.lastError ? chrome.runtime.lastError.message : 'sipsvc-relay stopped');
}

function connect() {
	if (port)
		return port;
	port = chrome.runtime.connectNative(HOST);
	port.onMessage.addListener(onNative);
	port.onDisconnect.addListener(onDisconnect);
	return port;
}

// Send one message to the relay; resolves with {ok, reply} or {ok:false, error, message}.
function send(msg) {
	const ref = 'x' + nextRef++;

	return new Promise((resolve) => {
		pending.set(ref, resolve);
		try {
			connect().postMessage({ ...msg, ref });
		} catch (e) {
			pending.delete(ref);
			resolve(fail('relay', String(e)));
		}
	});
}

// Call events for the popup: subscribe before the first request, and again after the
// relay or the daemon was lost (a subscription lives as long as the relay's connection).
function request(msg) {
	if (!subscribed) {
		const sub = send({ request: 'Subscribe', events: 'call' });

		subscribed = sub;
		sub.then((res) => {
			if (!res.ok && subscribed === sub)
				subscribed = null;
		});
	}
	return send(msg);
}

function onCallEvent(a) {
	if (!a || !a.call)
		return;
	const c = calls.get(a.call) || { call: a.call, state: '', legs: {} };

	if (a.leg)
		c.legs[a.leg] = a.state;
	else
		c.state = a.state;
	if (!a.leg && ENDED.has(a.state))
		calls.delete(a.call);
	else
		calls.set(a.call, c);
}

function onNative(m) {
	if (m.event === 'call')
		return onCallEvent(m.attrs);
	if (m.error === 'disconnected' && !m.ref) {
		// The relay connects again at the next request, which subscribes again.
		lost('disconnected', m.message);
		return;
	}
	const resolve = m.ref && pending.get(m.ref);

	if (!resolve)
		return;
	pending.delete(m.ref);
	if (m.reply)
		problem = ''; // the daemon answered
	if (m.reply === 'Ok')
		resolve({ ok: true, reply: m });
	else if (m.reply === 'Error')
		resolve(fail(m.attrs.code, m.text || m.attrs.code));
	else
		resolve(fail(m.error, m.message));
}

async function allowedOrigins() {
	const { allowedOrigins } = await chrome.storage.local.get('allowedOrigins');

	return Array.isArray(allowedOrigins) ? allowedOrigins : [];
}

function senderOrigin(sender) {
	if (sender.origin)
		return sender.origin;
	try {
		return new URL(sender.url).origin;
	} catch (e) {
		return 'null';
	}
}

async function pageSwitch(msg, sender) {
	const origin = senderOrigin(sender);

	if (!(await allowedOrigins()).includes(origin))
		return fail('not-allowed', `${origin} may not switch your call: allow it in the sipsvc popup first`);
	return request({ request: 'SameDeviceJoin', id: msg.id, origin });
}

// The popup, also when opened in a tab; content scripts report the page's URL instead.
function isExtensionPage(sender) {
	return sender.id === chrome.runtime.id && (sender.url || '').startsWith(chrome.runtime.getURL(''));
}

async function handle(msg, sender) {
	const type = msg && msg.type;

	if ((type === 'link' || type === 'switch') && (typeof msg.id !== 'string' || !sender.tab))
		return fail('invalid', 'a link or page request needs a URI');
	if (type === 'link')
		return request({ request: 'ExternalJoin', id: msg.id });
	if (type === 'switch')
		return pageSwitch(msg, sender);
	if (!isExtensionPage(sender))
		return fail('invalid', 'unknown message');
	if (type === 'state')
		return { ok: true, calls: [...calls.values()], problem, connected: !!port };
	if (type === 'hangup')
		return request(typeof msg.call === 'string' ? { request: 'Hangup', call: msg.call } : { request: 'Hangup' });
	if (type === 'connect')
		return request({ request: 'Status' });
	return fail('invalid', 'unknown message');
}

chrome.runtime.onMessage.addListener((msg, sender, sendResponse) => {
	handle(msg, sender).then((res) => {
		if (!res.ok && LINK_ERRORS.has(res.error))
			problem = res.message || res.error;
		sendResponse(res);
	});
	return true; // the answer comes later
});
