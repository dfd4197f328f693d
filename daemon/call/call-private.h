/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internals of the call subsystem shared between its files. */
#ifndef SIPSVC_CALL_PRIVATE_H
#define SIPSVC_CALL_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "call/call.h"
#include "sip/sip.h"

struct device;

/* How long a call that has ended may wait for its BYE/CANCEL answers before its
 * dialogs are dropped (RFC 3261 timer F is 64*T1 = 32 s). */
#define CALL_LINGER 40.0
#define CALL_URI_MAX 1024
/* Prompts waiting for a ChooseDevice (PROTOCOL.md "Device choice"): 60 s each. */
#define CALL_PROMPT_TIMEOUT 60.0
/* An SDP o= value we rewrite (RFC 4566 5.2: six short fields); longer ones pass as
 * they are. */
#define CALL_O_MAX 256

/** PROTOCOL.md call and leg states; one string table (call.c) for logs and XML. */
enum call_state {
	CALL_STATE_TRYING,
	CALL_STATE_RINGING,
	CALL_STATE_CONNECTED,
	CALL_STATE_TRANSFERRING,
	CALL_STATE_TRANSFERRED,
	CALL_STATE_HELD,
	CALL_STATE_ENDED,
	CALL_STATE_FAILED,
	_CALL_STATE_MAX,
	_CALL_STATE_INVALID = -1,
};
const char *call_state_to_string(enum call_state s);

enum call_leg_kind {
	CALL_LEG_DEVICE,
	CALL_LEG_REMOTE,
	_CALL_LEG_MAX,
};
const char *call_leg_kind_to_string(enum call_leg_kind k);

struct call;

/** One leg: a dialog the service holds with the device or the far end. */
struct call_leg {
	struct call *call;
	enum call_leg_kind kind;
	enum call_state state;
	int sip_status;           /* the final status of a failed leg */
	char *uri;
	struct sip_dialog *dlg;   /* our reference; NULL before the INVITE */
	struct sip_tx *tx;        /* an incoming INVITE not answered yet (our reference) */
	bool answered;            /* a 2xx came (or we sent one) */
	bool settled;             /* the dialog has ended: nothing more will come */
};

/** What a mode does with its legs' events. */
struct call_ops {
	/** The device is ready (prepared) with contact @p contact: start the call. */
	int (*start)(struct call *c);
	/** A dialog event on leg @p l (sip_dialog_h). */
	void (*dialog)(struct call_leg *l, enum sip_dialog_event ev, int status,
		       struct sip_tx *tx);
};

extern const struct call_ops call_loop_ops;
extern const struct call_ops call_transfer_ops;
extern const struct call_ops call_incoming_ops;

/* Invite (conference.c): what became of one invitee. */
#define CALL_INVITEES_MAX 32

enum call_invitee_state {
	CALL_INVITEE_QUEUED,
	CALL_INVITEE_INVITED,
	CALL_INVITEE_JOINED,
	CALL_INVITEE_FAILED,
};

struct call_conf;

struct call_invitee {
	struct call_conf *conf;
	char *uri;
	enum call_invitee_state state;
	bool sent;                /* its REFER went out */
	int refer_id;             /* refer-focus: the REFER's CSeq (RFC 3515 2.4.6) */
	struct sip_dialog *dlg;   /* refer-invitee: the REFER's subscription dialog */
	struct origin origin;     /* the Invite request: its connection gets the events */
};

/** A loop-mode call whose far end is a conference focus. */
struct call_conf {
	struct call *call;
	char *uri;                /* the conference URI */
	bool refer_focus;         /* <conference method="refer-focus"> */
	bool subscribed;          /* the conference event subscription is on */
	struct confinfo *roster;
	ev_timer refresh;         /* the subscription's refresh */
	ev_timer kick;            /* sends new REFERs after the request's reply */
	size_t n_invitees;
	struct call_invitee inv[CALL_INVITEES_MAX];
};

struct call {
	struct call_mgr *mgr;
	struct call *next, *prev;
	unsigned id;
	struct origin origin;
	enum device_mode mode;
	enum call_state state;
	const struct call_ops *ops;
	char *target;
	char *dev_spec;           /* what the request named (device id or URI) */
	struct device *dev;       /* NULL for an ad-hoc SIP device */
	unsigned caps;            /* enum sipsvc_cap */
	char contact[CALL_URI_MAX]; /* where the device is called */
	struct call_leg legs[_CALL_LEG_MAX];
	bool ended;               /* the final event was sent */
	bool preparing;           /* device_prepare() is running */
	bool offerless;           /* incoming INVITE without an offer: the device offers */
	bool subscribed;          /* transfer: the REFER was accepted */
	bool hangup;              /* Hangup asked: ends on the next loop turn */
	bool relaying;            /* loop: a re-INVITE/UPDATE is on its way through */
	struct relay *ack_relay;  /* loop: ... and waits for the ACK with the answer */
	unsigned prompt;          /* ExternalJoin: the prompt waiting, 0 none */
	struct call_conf *conf;   /* Invite: the conference this call is in, or NULL */
	/* SameDeviceJoin (switch.c): the far end being switched to, if any. */
	struct {
		char *target;         /* asked for, not called yet */
		struct call_swleg *leg; /* the new far leg, called */
		bool committed;       /* its offer is on its way to the device */
		ev_timer start;       /* runs the switch after the request's reply */
		ev_timer timer;       /* the new target's answer timeout */
	} sw;
	/* RFC 3264 8: every SDP the device gets from us keeps one origin (o=), its version
	 * one higher for each change, whichever far end it comes from (sdp.c). */
	char dev_o[CALL_O_MAX];   /* the o= value the device last got, "" before */
	char far_o[CALL_O_MAX];   /* the far end's o= value it was made from */
	ev_timer timer;           /* answer timeout, then the linger bound */
	ev_timer start;           /* runs call_begin's work after the request's reply */
	ev_timer prompt_timer;    /* the prompt's 60 s, then the chooser program's */
	struct {
		pid_t pid;        /* the chooser program running, or 0 */
		int fd;           /* its standard output */
		ev_io io;
		ev_child child;
		char out[CALL_URI_MAX];
		size_t len;
	} chooser;
};

/**
 * A far leg outside the call's two slots (switch.c): the new target of a SameDeviceJoin
 * while it is being called, then, once it has replaced the remote leg or been given
 * up, a released leg that only waits for its CANCEL/BYE to settle.
 */
struct call_swleg {
	struct call_leg leg;      /* first: a struct call_leg * is a struct call_swleg * */
	struct call_mgr *mgr;
	struct call_swleg *next, *prev;
	bool ready;               /* answered; waits for the device's dialog to be free */
	ev_timer linger;          /* released: the bound on its settling */
};

struct call_mgr {
	struct ev_loop *loop;
	const struct config *cfg;
	struct sip *sip;
	struct device_table *devs;
	struct call *calls;       /* every call object still alive, ended ones too */
	struct call_swleg *swlegs; /* every switch leg still alive */
	size_t n_active;
	unsigned next_id, next_prompt;
};

/* ---- call.c ------------------------------------------------------------------------ */
/** Our identity (From of our requests). */
const char *call_identity(const struct call *c);
/** Report @p l's new state (an event with leg=, sip-status= for a failure). */
void call_leg_set_state(struct call_leg *l, enum call_state st, int sip_status);
/** call_leg_set_state() with a reason= (@p reason may be NULL), always reported. */
void call_leg_report(struct call_leg *l, enum call_state st, int sip_status,
		     const char *reason);
/** Whether one more call fits under <calls max>; -EBUSY with why in @p err. */
int call_check_limit(struct call_mgr *m, char *err, size_t errlen);
/** The active call @p id (not ended), or NULL. */
struct call *call_find(struct call_mgr *m, unsigned id);
/** Report the call's state (connected, transferred...) without ending it. */
void call_set_state(struct call *c, enum call_state st);
/**
 * The call is over: the final event (ended or failed, @p reason, @p sip_status if
 * not 0), then every leg is cleaned up (CANCEL, ACK+BYE, BYE); the object goes when
 * they have settled or after CALL_LINGER.
 */
void call_finish(struct call *c, enum call_state st, const char *reason, int sip_status);
/** A new call in the table (state trying), or NULL on out-of-memory. */
struct call *call_new(struct call_mgr *m, const char *target, const struct origin *o);
/** Take a call that never started out of the table again, without any event. */
void call_discard(struct call *c);
/** Called when a leg has settled: frees the call once all have. */
void call_check_gone(struct call *c);
/**
 * Start calling the device (after the device choice for ExternalJoin), or send the
 * device-choice prompt if c->prompt is set: on the next loop turn, so that the reply
 * to the request goes out before any of its events (PROTOCOL.md "Replies").
 */
void call_begin(struct call *c);
/** Arm the answer timeout. */
void call_arm_timeout(struct call *c);

/* ---- leg.c ------------------------------------------------------------------------- */
/**
 * INVITE @p uri on leg @p l (@p headers extra, @p defer_ack per
 * sip_dialog_invite_with(), @p ctype/@p body an offer or NULL). 0 or -errno.
 */
int call_leg_invite(struct call_leg *l, const char *uri, const char *headers, bool defer_ack,
		    const char *ctype, const char *body);
/**
 * Answer the incoming INVITE of leg @p l with 200 and @p body, creating its dialog
 * (sip_dialog_accept). 0 or -errno (-ENOENT: the caller has given up).
 */
int call_leg_accept(struct call_leg *l, const char *ctype, const char *body);
/**
 * End the leg whatever its state: CANCEL, ACK (with a refusal) then BYE, BYE, or for
 * an incoming INVITE not answered yet a 480.
 */
void call_leg_end(struct call_leg *l);
/** Drop the dialog without a word (shutdown, linger bound). */
void call_leg_drop(struct call_leg *l);
/** The leg failed (4xx-6xx, timeout, no ACK): report it and fail the call. */
void call_leg_failed(struct call_leg *l, int status, const char *reason);
/** The leg's far end hung up: report it and end the call. */
void call_leg_bye(struct call_leg *l, const char *reason);
/** Let go of the leg's server transaction (an incoming INVITE), if any. */
void call_leg_drop_tx(struct call_leg *l);
/** Send @p l's dialog events to @p l again (after the leg moved in memory). */
void call_leg_rebind(struct call_leg *l);
/**
 * What a leg of a call that is over does with a dialog event: ACK and BYE a 2xx that
 * crossed the CANCEL, 481 to requests, settle on the end.
 */
void call_leg_cleanup_event(struct call_leg *l, enum sip_dialog_event ev, struct sip_tx *tx);
/** A leg's dialog ended (BYE either way, failure): mark it settled. */
void call_leg_settle(struct call_leg *l);
/**
 * The answer that refuses every stream of @p offer (RFC 3264 6: port 0 per m= line),
 * for the ACK of a 2xx whose offer can no longer be used. malloc'd or NULL.
 */
char *call_sdp_refuse(const char *offer);

/* ---- loop.c ------------------------------------------------------------------------ */
/** A request inside leg @p l of a connected call: relay an offer, answer the rest. */
void call_loop_request(struct call_leg *l, struct sip_tx *tx);

/** The device's dialog is free again (a relay ended): a waiting switch may go on. */
void call_loop_device_free(struct call *c);
/** The ACK of our 2xx to a re-INVITE on leg @p l came: the answer an offerless
 * re-INVITE waited for goes on to the other leg. */
void call_loop_acked(struct call_leg *l);
/** The call ends: a relay waiting for an ACK lets go. */
void call_loop_stop(struct call *c);

/* ---- switch.c ---------------------------------------------------------------------- */
/** Whether leg @p l is a switch leg (not one of the call's two slots). */
bool call_switch_owns(const struct call *c, const struct call_leg *l);
/** A dialog event on the switch leg @p l of a loop-mode call. */
void call_switch_dialog(struct call_leg *l, enum sip_dialog_event ev, int status,
			struct sip_tx *tx);
/** Whether a switch is asked for or under way (the remote leg may go meanwhile). */
bool call_switch_pending(const struct call *c);
/** The call ends: release the switch leg, forget the asked target. */
void call_switch_stop(struct call *c);
/** The device's dialog is free: send a waiting switch's offer. */
void call_switch_resume(struct call *c);
/** Free every switch leg at once (shutdown). */
void call_switch_free_all(struct call_mgr *m);

/* ---- sdp.c ------------------------------------------------------------------------- */
/**
 * @p sdp from a far end as the device must get it (RFC 3264 8): its o= replaced by the
 * origin the device already knows, the version one higher when the far end's origin
 * changed. The first SDP only sets the origin. malloc'd, NULL on out-of-memory.
 */
char *call_sdp_for_device(struct call *c, const char *sdp);

/* ---- conference.c ------------------------------------------------------------------ */
/** The conference call @p c is connected: subscribe, send the queued REFERs. */
void call_conf_connected(struct call *c);
/** A request inside the conference dialog: true if it was a NOTIFY taken here. */
bool call_conf_request(struct call *c, struct sip_tx *tx);
/** The call ends: unsubscribe (before the BYE), drop the REFER subscriptions. */
void call_conf_stop(struct call *c);
/** Free @p cf (accepts NULL). */
void call_conf_free(struct call_conf *cf);

/* ---- confinfo.c -------------------------------------------------------------------- */
/* Bounds on a conference-info body (RFC 4575) from a focus. */
#define CONFINFO_BODY_MAX 65536
#define CONFINFO_USERS_MAX 64
#define CONFINFO_ENDPOINTS_MAX 8
#define CONFINFO_URI_MAX 256

/** RFC 4575 5.1 state attribute. */
enum confinfo_state {
	CONFINFO_FULL,
	CONFINFO_PARTIAL,
	CONFINFO_DELETED,
};

/** What an endpoint's status says: in the conference, out, or nothing. */
enum {
	CONFINFO_STATUS_UNKNOWN,
	CONFINFO_STATUS_IN,
	CONFINFO_STATUS_OUT,
};

struct confinfo_endpoint {
	char entity[CONFINFO_URI_MAX];
	enum confinfo_state state;
	int status;
};

struct confinfo_user {
	char entity[CONFINFO_URI_MAX];
	enum confinfo_state state;
	size_t n_endpoints;
	struct confinfo_endpoint ep[CONFINFO_ENDPOINTS_MAX];
};

/** One parsed notification, or (call_confinfo_apply) the roster built from them. */
struct confinfo {
	char entity[CONFINFO_URI_MAX]; /* the conference URI */
	uint32_t version;
	enum confinfo_state state;
	bool known;               /* roster: a full state has been applied */
	bool truncated;           /* users or endpoints over the bounds were ignored */
	size_t n_users;
	struct confinfo_user users[CONFINFO_USERS_MAX];
};

/**
 * Parse a conference-info document of @p len bytes into a new *@p ret (free()).
 * 0, -E2BIG (over CONFINFO_BODY_MAX), -EINVAL (not one), -ENOMEM.
 */
int call_confinfo_parse(const char *body, size_t len, struct confinfo **ret);
/** A user @p entity joined (@p joined) or left the conference. */
typedef void(confinfo_change_h)(const char *entity, bool joined, void *arg);
/**
 * Apply notification @p doc to @p roster (zeroed at first), telling @p h who left and
 * who joined. 0, -ESTALE (an old version: ignored), -EAGAIN (a partial one that does
 * not follow the roster's version: the full state must be fetched again, RFC 4575
 * 4.6), -ENOMEM.
 */
int call_confinfo_apply(struct confinfo *roster, const struct confinfo *doc,
			confinfo_change_h *h, void *arg);

/* ---- incoming.c -------------------------------------------------------------------- */
/** Take INVITEs to the user from @p m's SIP service (NULL: stop). */
void call_incoming_install(struct call_mgr *m, bool on);

/* ---- choose.c ---------------------------------------------------------------------- */
/** Run the device choice for @p c (ExternalJoin); ends with call_begin or a failure. */
int call_choose_start(struct call *c, bool prompt, char *err, size_t errlen);
/** Send the prompt of c->prompt and start its timeout. */
void call_prompt_send(struct call *c);
/** Stop a pending choice (the call ends). */
void call_choose_stop(struct call *c);
/** Pick device @p id for @p c (a device id or an ad-hoc URI). 0 or -errno. */
int call_use_device(struct call *c, const char *dev, enum device_mode mode, char *err,
		    size_t errlen);

#endif
