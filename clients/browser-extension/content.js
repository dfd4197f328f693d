// sipsvc content script, in every page and frame.
//
// - A click on a sip:, sips: or tel: link becomes an ExternalJoin (the paper's click-to-call):
//   only real clicks count (isTrusted), so a page cannot place calls by scripting a.click().
// - A page may ask to switch the current call (the paper's community web browsing):
//     window.postMessage({sipsvc: "SameDeviceJoin", id: "sip:room@conf.example.com"}, "*")
//   The background decides, by the origin the browser reports for this frame (never one the
//   page names), whether the user allowed it. The answer comes back to the page as
//     {sipsvcReply: "SameDeviceJoin", ok: true|false, error: "not-allowed"|…, message: "…"}
'use strict';

const CALL_SCHEMES = /^(sips?|tel):/;

function linkTarget(ev) {
	for (const el of ev.composedPath()) {
		if (el instanceof HTMLAnchorElement && el.href)
			return el.href;
		if (el instanceof SVGAElement && el.href && el.href.baseVal)
			return new URL(el.href.baseVal, document.baseURI).href;
	}
	return null;
}

// Capture on window: seen before the page's own handlers, so the browser never tries to
// hand the URI to some other protocol handler.
window.addEventListener('click', (ev) => {
	if (!ev.isTrusted || ev.button !== 0)
		return;
	const href = linkTarget(ev);
	if (!href || !CALL_SCHEMES.test(href))
		return;
	ev.preventDefault();
	chrome.runtime.sendMessage({ type: 'link', id: href }).catch(() => {});
}, true);

function answerPage(res) {
	const target = location.origin === 'null' ? '*' : location.origin;
	window.postMessage({ sipsvcReply: 'SameDeviceJoin', ok: !!res.ok, error: res.error || null,
			     message: res.message || null }, target);
}

window.addEventListener('message', (ev) => {
	const d = ev.data;

	// Only this frame's own page, not other frames or windows posting into it.
	if (ev.source !== window || !d || typeof d !== 'object' || d.sipsvc !== 'SameDeviceJoin')
		return;
	if (typeof d.id !== 'string' || d.id.length > 1024) {
		answerPage({ ok: false, error: 'invalid', message: 'id must be a sip:, sips: or tel: URI' });
		return;
	}
	chrome.runtime.sendMessage({ type: 'switch', id: d.id })
		.then(answerPage)
		.catch((e) => answerPage({ ok: false, error: 'extension', message: String(e) }));
});
