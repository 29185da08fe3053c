/*
 * hasocks_gssapi: the GSS-API calls behind SOCKS5 GSSAPI authentication
 * (RFC 1961), over MIT libgssapi_krb5.
 *
 * A separate addon from hasocks_native, so that a machine without libkrb5
 * still builds and runs hasocks: there binding.gyp compiles
 * gssapi_missing.c in its place, which says what to install.
 *
 * - Acceptor (the proxy): acquireAcceptor reads the keytab for one service
 *   name (gss_acquire_cred_from with a keytab store, so no environment
 *   variable decides which keytab); accept runs one round of
 *   gss_accept_sec_context.
 * - Initiator (the tests' RFC 1961 client, and `npm run bench:gssapi`):
 *   initiate runs one round of gss_init_sec_context with the caller's
 *   credentials cache (KRB5CCNAME).
 * - Kerberos only: the acceptor's credential is for the krb5 mechanism
 *   alone, and a context established with any other is refused, so SPNEGO
 *   cannot bring in NTLM or another mechanism's names.
 * - Both: wrap, unwrap and wrapSizeLimit for per-message protection,
 *   deleteContext.
 *
 * accept and initiate run on libuv's thread pool and return promises: the
 * acceptor writes the replay cache, the initiator may ask the KDC, and the
 * event loop must not wait for either. wrap and unwrap touch only memory
 * and run on the caller's thread.
 *
 * Credentials and contexts are JavaScript externals whose finalizers
 * release them. A context is busy while a thread-pool round holds it; any
 * other call on it then throws, so JavaScript cannot race that thread.
 * Errors carry GSS-API's own words (gss_display_status). A round's words are made on its own thread: MIT
 * keeps the detail of a minor status (which key, which principal) in the
 * thread that failed.
 *
 * unwrap takes only a token that is whole and in order: MIT reports a
 * replayed, late or out-of-sequence token as a supplementary status that
 * is not an error, and still returns its data.
 */
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_call.h"

/* Name forms the TypeScript side names with a number (gssapi-addon.ts, nameKind). */
enum name_kind { NAME_PRINCIPAL = 0, NAME_HOST_BASED = 1 };

/* Tags that tell this addon's handles apart, so a credential is never taken for a context. */
static const napi_type_tag CRED_TAG = {0x6861736f636b7331ULL, 0x6372656400000001ULL};
static const napi_type_tag CONTEXT_TAG = {0x6861736f636b7331ULL, 0x636f6e7400000002ULL};

typedef struct {
  gss_cred_id_t cred;
} cred_box;

typedef struct {
  gss_ctx_id_t ctx;
  bool busy;
  bool complete;
} context_box;

/* "what: GSS-API words; mechanism words" into buf. */
static void describe_status(char *buf, size_t size, const char *what, OM_uint32 major, OM_uint32 minor) {
  size_t used = (size_t)snprintf(buf, size, "%s", what);
  const struct {
    OM_uint32 code;
    int type;
  } parts[2] = {{major, GSS_C_GSS_CODE}, {minor, GSS_C_MECH_CODE}};
  for (int i = 0; i < 2; i++) {
    if (parts[i].code == 0) continue;
    OM_uint32 more = 0, ignored;
    do {
      gss_buffer_desc text = GSS_C_EMPTY_BUFFER;
      if (GSS_ERROR(gss_display_status(&ignored, parts[i].code, parts[i].type, GSS_C_NO_OID, &more, &text))) break;
      if (used < size) used += (size_t)snprintf(buf + used, size - used, "%s%.*s", used == strlen(what) ? ": " : "; ", (int)text.length, (const char *)text.value);
      gss_release_buffer(&ignored, &text);
    } while (more != 0);
  }
}

/* An Error with `message`. */
static napi_value error_value(napi_env env, const char *message) {
  napi_value text, error;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, NULL, text, &error);
  return error;
}

/* Throw "what: GSS-API's words", for a call made on this thread. */
static void throw_gss(napi_env env, const char *what, OM_uint32 major, OM_uint32 minor) {
  char message[512];
  describe_status(message, sizeof message, what, major, minor);
  napi_throw_error(env, NULL, message);
}

/* Reject a round's promise with `message`. */
static void reject_with(napi_env env, napi_deferred deferred, const char *message) {
  napi_reject_deferred(env, deferred, error_value(env, message));
}

/*
 * `data` as a handle tagged `tag`, released by `finalize` when collected;
 * NULL after throwing. Until it exists `data` is still the caller's to free.
 */
static napi_value tagged_external(napi_env env, void *data, napi_finalize finalize, const napi_type_tag *tag, bool *owned) {
  napi_value result;
  *owned = false;
  if (napi_create_external(env, data, finalize, NULL, &result) != napi_ok) {
    napi_throw_error(env, NULL, "N-API call failed: napi_create_external");
    return NULL;
  }
  *owned = true; /* from here the finalizer releases it, whatever follows */
  if (napi_type_tag_object(env, result, tag) != napi_ok) {
    napi_throw_error(env, NULL, "N-API call failed: napi_type_tag_object");
    return NULL;
  }
  return result;
}

/* The call's arguments into argv (at most `most`); false, after throwing `usage` as a TypeError, when fewer than `least` came. */
static bool get_args(napi_env env, napi_callback_info info, size_t least, size_t most, napi_value *argv, size_t *argc, const char *usage) {
  *argc = most;
  if (napi_get_cb_info(env, info, argc, argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, NULL, "N-API call failed: napi_get_cb_info");
    return false;
  }
  if (*argc < least) {
    napi_throw_type_error(env, NULL, usage);
    return false;
  }
  return true;
}

/* A JavaScript string argument into a malloc'd C string (NULL after throwing). */
static char *string_arg(napi_env env, napi_value value, const char *what) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) {
    char message[128];
    snprintf(message, sizeof message, "%s must be a string", what);
    napi_throw_type_error(env, NULL, message);
    return NULL;
  }
  char *out = malloc(length + 1);
  if (out == NULL || napi_get_value_string_utf8(env, value, out, length + 1, &length) != napi_ok || strlen(out) != length) {
    free(out);
    napi_throw_type_error(env, NULL, "a name must not contain NUL");
    return NULL;
  }
  return out;
}

/* Import "service/host[@REALM]" (a principal) or "service@host" (host-based). */
static bool import_name(napi_env env, const char *text, int kind, gss_name_t *name) {
  OM_uint32 minor;
  gss_buffer_desc buffer = {strlen(text), (void *)text};
  gss_OID type = kind == NAME_HOST_BASED ? GSS_C_NT_HOSTBASED_SERVICE : (gss_OID)GSS_KRB5_NT_PRINCIPAL_NAME;
  OM_uint32 major = gss_import_name(&minor, &buffer, type, name);
  if (GSS_ERROR(major)) {
    char what[300];
    snprintf(what, sizeof what, "cannot import the name \"%.200s\"", text);
    throw_gss(env, what, major, minor);
    return false;
  }
  return true;
}

static bool get_buffer(napi_env env, napi_value value, void **data, size_t *length, const char *what) {
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer || napi_get_buffer_info(env, value, data, length) != napi_ok) {
    char message[128];
    snprintf(message, sizeof message, "%s must be a Buffer", what);
    napi_throw_type_error(env, NULL, message);
    return false;
  }
  return true;
}

static void finalize_cred(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  cred_box *box = data;
  OM_uint32 minor;
  if (box->cred != GSS_C_NO_CREDENTIAL) gss_release_cred(&minor, &box->cred);
  free(box);
}

static void finalize_context(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  context_box *box = data;
  OM_uint32 minor;
  if (box->ctx != GSS_C_NO_CONTEXT) gss_delete_sec_context(&minor, &box->ctx, GSS_C_NO_BUFFER);
  free(box);
}

static void *external_of(napi_env env, napi_value value, const napi_type_tag *tag, const char *what) {
  void *data = NULL;
  napi_valuetype type;
  bool tagged = false;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external || napi_check_object_type_tag(env, value, tag, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, value, &data) != napi_ok) {
    char message[128];
    snprintf(message, sizeof message, "%s must be a handle from this addon", what);
    napi_throw_type_error(env, NULL, message);
    return NULL;
  }
  return data;
}

/* A context not held by a thread-pool round (NULL after throwing). */
static context_box *idle_context(napi_env env, napi_value value) {
  context_box *box = external_of(env, value, &CONTEXT_TAG, "context");
  if (box != NULL && box->busy) {
    napi_throw_error(env, NULL, "the GSS-API context is busy with a round on the thread pool");
    return NULL;
  }
  return box;
}

/* One that has finished establishing: per-message calls need it. */
static context_box *established_context(napi_env env, napi_value value) {
  context_box *box = idle_context(env, value);
  if (box != NULL && (!box->complete || box->ctx == GSS_C_NO_CONTEXT)) {
    napi_throw_error(env, NULL, "the GSS-API context is not established");
    return NULL;
  }
  return box;
}

/* acquireAcceptor(name, kind, keytab, replayCache?): the credential for accepting as `name`, with Kerberos 5, from `keytab` only. */
static napi_value acquire_acceptor(napi_env env, napi_callback_info info) {
  size_t argc;
  napi_value argv[4];
  if (!get_args(env, info, 3, 4, argv, &argc, "acquireAcceptor(name, kind, keytab, replayCache?)")) return NULL;
  int32_t kind;
  NAPI_CALL(env, napi_get_value_int32(env, argv[1], &kind));
  napi_valuetype rcache_type = napi_undefined;
  if (argc > 3) napi_typeof(env, argv[3], &rcache_type);
  napi_value result = NULL;
  gss_name_t name = GSS_C_NO_NAME;
  gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
  OM_uint32 minor;
  char *rcache = NULL;
  char *keytab = NULL;
  char *text = string_arg(env, argv[0], "name");
  if (text == NULL || (keytab = string_arg(env, argv[2], "keytab")) == NULL) goto done;
  if (rcache_type == napi_string && (rcache = string_arg(env, argv[3], "replayCache")) == NULL) goto done;
  if (!import_name(env, text, kind, &name)) goto done;
  gss_key_value_element_desc elements[2] = {{"keytab", keytab}, {"rcache", rcache}};
  gss_key_value_set_desc store = {rcache != NULL ? 2 : 1, elements};
  gss_OID_set_desc krb5_only = {1, (gss_OID)gss_mech_krb5};
  OM_uint32 major = gss_acquire_cred_from(&minor, name, GSS_C_INDEFINITE, &krb5_only, GSS_C_ACCEPT, &store, &cred, NULL, NULL);
  if (GSS_ERROR(major)) {
    char what[600];
    snprintf(what, sizeof what, "cannot use keytab %.250s for %.250s", keytab, text);
    throw_gss(env, what, major, minor);
    goto done;
  }
  cred_box *box = calloc(1, sizeof *box);
  if (box == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    goto done;
  }
  box->cred = cred;
  bool owned;
  result = tagged_external(env, box, finalize_cred, &CRED_TAG, &owned);
  if (owned) cred = GSS_C_NO_CREDENTIAL;
  else free(box);
done:
  if (cred != GSS_C_NO_CREDENTIAL) gss_release_cred(&minor, &cred);
  if (name != GSS_C_NO_NAME) gss_release_name(&minor, &name);
  free(text);
  free(keytab);
  free(rcache);
  return result;
}

/* createContext(): an empty context handle for accept or initiate to fill. */
static napi_value create_context(napi_env env, napi_callback_info info) {
  (void)info;
  context_box *box = calloc(1, sizeof *box);
  if (box == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  box->ctx = GSS_C_NO_CONTEXT;
  bool owned;
  napi_value result = tagged_external(env, box, finalize_context, &CONTEXT_TAG, &owned);
  if (!owned) free(box);
  return result;
}

/* deleteContext(context): release it now (finalizing the handle later does nothing more). */
static napi_value delete_context(napi_env env, napi_callback_info info) {
  size_t argc;
  napi_value argv[1];
  if (!get_args(env, info, 1, 1, argv, &argc, "deleteContext(context)")) return NULL;
  context_box *box = idle_context(env, argv[0]);
  if (box == NULL) return NULL;
  OM_uint32 minor;
  if (box->ctx != GSS_C_NO_CONTEXT) gss_delete_sec_context(&minor, &box->ctx, GSS_C_NO_BUFFER);
  box->ctx = GSS_C_NO_CONTEXT;
  box->complete = false;
  return NULL;
}

/* One round of context establishment, run on the thread pool. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref context_ref;
  napi_ref cred_ref;
  context_box *box;
  bool initiator;
  /* acceptor */
  gss_cred_id_t cred;
  /* initiator */
  gss_name_t target;
  OM_uint32 req_flags;
  gss_buffer_desc input;
  gss_buffer_desc output;
  OM_uint32 major, minor, ret_flags;
  gss_name_t source;
  /* The peer's name once complete (acceptor), from gss_display_name. */
  char *peer;
  /* Why the round failed, in words made on the thread that failed. */
  char failure[512];
} round_work;

static void run_round(napi_env env, void *data) {
  (void)env;
  round_work *w = data;
  OM_uint32 ignored;
  gss_buffer_t input = w->input.length > 0 ? &w->input : GSS_C_NO_BUFFER;
  if (w->initiator) {
    w->major = gss_init_sec_context(&w->minor, GSS_C_NO_CREDENTIAL, &w->box->ctx, w->target, (gss_OID)gss_mech_krb5, w->req_flags, 0, GSS_C_NO_CHANNEL_BINDINGS, input, NULL, &w->output,
                                    &w->ret_flags, NULL);
    if (GSS_ERROR(w->major)) describe_status(w->failure, sizeof w->failure, "gss_init_sec_context", w->major, w->minor);
    return;
  }
  gss_OID mech = GSS_C_NO_OID;
  w->major = gss_accept_sec_context(&w->minor, &w->box->ctx, w->cred, &w->input, GSS_C_NO_CHANNEL_BINDINGS, &w->source, &mech, &w->output, &w->ret_flags, NULL, NULL);
  if (GSS_ERROR(w->major)) {
    describe_status(w->failure, sizeof w->failure, "gss_accept_sec_context", w->major, w->minor);
    return;
  }
  if (w->major != GSS_S_COMPLETE) return;
  if (mech == GSS_C_NO_OID || !gss_oid_equal(mech, gss_mech_krb5)) {
    w->major = GSS_S_BAD_MECH;
    w->minor = 0;
    snprintf(w->failure, sizeof w->failure, "the context was established with a mechanism other than Kerberos 5");
    return;
  }
  gss_buffer_desc text = GSS_C_EMPTY_BUFFER;
  OM_uint32 name_minor;
  OM_uint32 name_major = gss_display_name(&name_minor, w->source, &text, NULL);
  if (GSS_ERROR(name_major)) {
    w->major = name_major;
    w->minor = name_minor;
    describe_status(w->failure, sizeof w->failure, "gss_display_name", name_major, name_minor);
    return;
  }
  w->peer = malloc(text.length + 1);
  if (w->peer != NULL) {
    memcpy(w->peer, text.value, text.length);
    w->peer[text.length] = '\0';
  } else {
    w->major = GSS_S_FAILURE;
    snprintf(w->failure, sizeof w->failure, "out of memory");
  }
  gss_release_buffer(&ignored, &text);
}

static void free_round(napi_env env, round_work *w) {
  OM_uint32 minor;
  if (w->output.value != NULL) gss_release_buffer(&minor, &w->output);
  if (w->source != GSS_C_NO_NAME) gss_release_name(&minor, &w->source);
  if (w->target != GSS_C_NO_NAME) gss_release_name(&minor, &w->target);
  if (w->context_ref != NULL) napi_delete_reference(env, w->context_ref);
  if (w->cred_ref != NULL) napi_delete_reference(env, w->cred_ref);
  if (w->work != NULL) napi_delete_async_work(env, w->work);
  free(w->input.value);
  free(w->peer);
  free(w);
}

/* Resolve with {token, complete, flags, peer?}, or reject with the GSS-API error. */
static void finish_round(napi_env env, napi_status status, void *data) {
  round_work *w = data;
  context_box *box = w->box;
  box->busy = false;
  napi_value outcome = NULL;
  bool ok = false;
  if (status != napi_ok) {
    outcome = error_value(env, "the GSS-API round was cancelled");
  } else if (GSS_ERROR(w->major)) {
    outcome = error_value(env, w->failure);
  } else {
    ok = true;
    box->complete = w->major == GSS_S_COMPLETE;
    napi_value token, complete, flags;
    void *copy = NULL;
    napi_create_object(env, &outcome);
    napi_create_buffer_copy(env, w->output.length, w->output.value != NULL ? w->output.value : "", &copy, &token);
    napi_get_boolean(env, box->complete, &complete);
    napi_create_uint32(env, w->ret_flags, &flags);
    napi_set_named_property(env, outcome, "token", token);
    napi_set_named_property(env, outcome, "complete", complete);
    napi_set_named_property(env, outcome, "flags", flags);
    if (w->peer != NULL) {
      napi_value peer;
      napi_create_string_utf8(env, w->peer, NAPI_AUTO_LENGTH, &peer);
      napi_set_named_property(env, outcome, "peer", peer);
    }
  }
  if (!ok) {
    /* A failed context is of no further use: release it now rather than at finalization. */
    OM_uint32 minor;
    if (box->ctx != GSS_C_NO_CONTEXT) gss_delete_sec_context(&minor, &box->ctx, GSS_C_NO_BUFFER);
    box->ctx = GSS_C_NO_CONTEXT;
    box->complete = false;
  }
  if (ok) napi_resolve_deferred(env, w->deferred, outcome);
  else napi_reject_deferred(env, w->deferred, outcome);
  free_round(env, w);
}

/* The common start of accept and initiate: the credential (acceptor; NULL for the initiator), the context, the input token, the promise. */
static round_work *start_round(napi_env env, napi_value credential, napi_value context, napi_value token, napi_value *promise) {
  cred_box *cred = NULL;
  if (credential != NULL && (cred = external_of(env, credential, &CRED_TAG, "credential")) == NULL) return NULL;
  context_box *box = idle_context(env, context);
  if (box == NULL) return NULL;
  if (box->complete) {
    napi_throw_error(env, NULL, "the GSS-API context is already established");
    return NULL;
  }
  void *data = NULL;
  size_t length = 0;
  napi_valuetype type = napi_undefined;
  napi_typeof(env, token, &type);
  /* The initiator's first round has no token. */
  bool no_token = credential == NULL && (type == napi_null || type == napi_undefined);
  if (!no_token && !get_buffer(env, token, &data, &length, "token")) return NULL;
  round_work *w = calloc(1, sizeof *w);
  if (w == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  w->box = box;
  w->initiator = cred == NULL;
  w->cred = cred != NULL ? cred->cred : GSS_C_NO_CREDENTIAL;
  w->input.length = length;
  w->input.value = length > 0 ? malloc(length) : NULL;
  if (length > 0 && w->input.value == NULL) {
    free(w);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (length > 0) memcpy(w->input.value, data, length);
  /* The handles stay alive while the thread uses them. */
  if (napi_create_reference(env, context, 1, &w->context_ref) != napi_ok || (credential != NULL && napi_create_reference(env, credential, 1, &w->cred_ref) != napi_ok) ||
      napi_create_promise(env, &w->deferred, promise) != napi_ok) {
    free_round(env, w);
    napi_throw_error(env, NULL, "N-API call failed: starting a GSS-API round");
    return NULL;
  }
  return w;
}

static napi_value queue_round(napi_env env, round_work *w, napi_value promise, const char *name) {
  napi_value resource_name;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_create_async_work(env, NULL, resource_name, run_round, finish_round, w, &w->work) != napi_ok || napi_queue_async_work(env, w->work) != napi_ok) {
    /* The promise was made; reject it rather than leave it pending. */
    reject_with(env, w->deferred, "cannot queue the GSS-API round");
    free_round(env, w);
    return promise;
  }
  w->box->busy = true;
  return promise;
}

/* accept(credential, context, token): a promise of {token, complete, flags, peer?}; peer is the client's principal once complete. */
static napi_value accept_round(napi_env env, napi_callback_info info) {
  size_t argc;
  napi_value argv[3];
  if (!get_args(env, info, 3, 3, argv, &argc, "accept(credential, context, token)")) return NULL;
  napi_value promise;
  round_work *w = start_round(env, argv[0], argv[1], argv[2], &promise);
  if (w == NULL) return NULL;
  return queue_round(env, w, promise, "hasocks:gss_accept_sec_context");
}

/* initiate(context, target, kind, flags, token|null): a promise of {token, complete, flags}, with the credentials cache KRB5CCNAME names. */
static napi_value initiate_round(napi_env env, napi_callback_info info) {
  size_t argc;
  napi_value argv[5];
  if (!get_args(env, info, 5, 5, argv, &argc, "initiate(context, target, kind, flags, token)")) return NULL;
  int32_t kind;
  uint32_t flags;
  NAPI_CALL(env, napi_get_value_int32(env, argv[2], &kind));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[3], &flags));
  char *text = string_arg(env, argv[1], "target");
  if (text == NULL) return NULL;
  gss_name_t target = GSS_C_NO_NAME;
  bool imported = import_name(env, text, kind, &target);
  free(text);
  if (!imported) return NULL;
  napi_value promise;
  round_work *w = start_round(env, NULL, argv[0], argv[4], &promise);
  if (w == NULL) {
    OM_uint32 minor;
    gss_release_name(&minor, &target);
    return NULL;
  }
  w->target = target;
  w->req_flags = flags;
  return queue_round(env, w, promise, "hasocks:gss_init_sec_context");
}

/* The memory of a GSS-API output buffer, handed to JavaScript without a copy: freed (and unreported) when the Buffer is collected. */
static void finalize_output(napi_env env, void *data, void *hint) {
  OM_uint32 minor;
  gss_buffer_desc output = {(size_t)(uintptr_t)hint, data};
  int64_t ignored;
  napi_adjust_external_memory(env, -(int64_t)output.length, &ignored);
  gss_release_buffer(&minor, &output);
}

/* `output` as a Buffer that owns its memory from now on; on failure it is released and a throw is pending. */
static napi_value output_buffer(napi_env env, gss_buffer_desc *output) {
  napi_value result;
  OM_uint32 minor;
  if (output->length == 0 || output->value == NULL) {
    void *unused;
    gss_release_buffer(&minor, output);
    if (napi_create_buffer(env, 0, &unused, &result) != napi_ok) return NULL;
    return result;
  }
  if (napi_create_external_buffer(env, output->length, output->value, finalize_output, (void *)(uintptr_t)output->length, &result) != napi_ok) {
    gss_release_buffer(&minor, output);
    napi_throw_error(env, NULL, "N-API call failed: napi_create_external_buffer");
    return NULL;
  }
  /* The collector must know of memory it cannot see, or it lets the buffers pile up. */
  int64_t ignored;
  napi_adjust_external_memory(env, (int64_t)output->length, &ignored);
  output->value = NULL;
  output->length = 0;
  return result;
}

/* wrap(context, confidential, data): one token; the caller keeps data within wrapSizeLimit. */
static napi_value wrap_message(napi_env env, napi_callback_info info) {
  size_t argc;
  napi_value argv[3];
  if (!get_args(env, info, 3, 3, argv, &argc, "wrap(context, confidential, data)")) return NULL;
  context_box *box = established_context(env, argv[0]);
  if (box == NULL) return NULL;
  bool confidential;
  void *data;
  size_t length;
  NAPI_CALL(env, napi_get_value_bool(env, argv[1], &confidential));
  if (!get_buffer(env, argv[2], &data, &length, "data")) return NULL;
  gss_buffer_desc input = {length, data}, output = GSS_C_EMPTY_BUFFER;
  int conf_state = 0;
  OM_uint32 minor;
  OM_uint32 major = gss_wrap(&minor, box->ctx, confidential, GSS_C_QOP_DEFAULT, &input, &conf_state, &output);
  if (GSS_ERROR(major)) {
    throw_gss(env, "gss_wrap", major, minor);
    gss_release_buffer(&minor, &output);
    return NULL;
  }
  if (confidential && !conf_state) {
    gss_release_buffer(&minor, &output);
    napi_throw_error(env, NULL, "gss_wrap: the mechanism gave no confidentiality");
    return NULL;
  }
  return output_buffer(env, &output);
}

/* unwrap(context, token): {data, confidential}. */
static napi_value unwrap_message(napi_env env, napi_callback_info info) {
  size_t argc;
  napi_value argv[2];
  if (!get_args(env, info, 2, 2, argv, &argc, "unwrap(context, token)")) return NULL;
  context_box *box = established_context(env, argv[0]);
  if (box == NULL) return NULL;
  void *data;
  size_t length;
  if (!get_buffer(env, argv[1], &data, &length, "token")) return NULL;
  gss_buffer_desc input = {length, data}, output = GSS_C_EMPTY_BUFFER;
  int conf_state = 0;
  OM_uint32 minor;
  OM_uint32 major = gss_unwrap(&minor, box->ctx, &input, &output, &conf_state, NULL);
  if (major != GSS_S_COMPLETE) {
    /* A replayed, late or out-of-order token is no error to GSS-API, but it is to a byte stream. */
    if (GSS_ERROR(major)) throw_gss(env, "gss_unwrap", major, minor);
    else if (major & GSS_S_DUPLICATE_TOKEN) napi_throw_error(env, NULL, "gss_unwrap: a token that came before (a replay)");
    else if (major & GSS_S_OLD_TOKEN) napi_throw_error(env, NULL, "gss_unwrap: a token too old to check (a replay or a reordering)");
    else if (major & GSS_S_UNSEQ_TOKEN) napi_throw_error(env, NULL, "gss_unwrap: a token out of sequence");
    else if (major & GSS_S_GAP_TOKEN) napi_throw_error(env, NULL, "gss_unwrap: a token after a gap (one was dropped)");
    else throw_gss(env, "gss_unwrap", major, minor);
    gss_release_buffer(&minor, &output);
    return NULL;
  }
  napi_value result, confidential;
  napi_value plain = output_buffer(env, &output);
  if (plain == NULL) return NULL;
  if (napi_get_boolean(env, conf_state != 0, &confidential) != napi_ok || napi_create_object(env, &result) != napi_ok) {
    napi_throw_error(env, NULL, "N-API call failed: unwrap's result");
    return NULL;
  }
  napi_set_named_property(env, result, "data", plain);
  napi_set_named_property(env, result, "confidential", confidential);
  return result;
}

/* wrapSizeLimit(context, confidential, maxToken): the most data whose token fits in maxToken bytes. */
static napi_value wrap_size_limit(napi_env env, napi_callback_info info) {
  size_t argc;
  napi_value argv[3];
  if (!get_args(env, info, 3, 3, argv, &argc, "wrapSizeLimit(context, confidential, maxToken)")) return NULL;
  context_box *box = established_context(env, argv[0]);
  if (box == NULL) return NULL;
  bool confidential;
  uint32_t max_token;
  NAPI_CALL(env, napi_get_value_bool(env, argv[1], &confidential));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[2], &max_token));
  OM_uint32 minor, limit = 0;
  OM_uint32 major = gss_wrap_size_limit(&minor, box->ctx, confidential, GSS_C_QOP_DEFAULT, max_token, &limit);
  if (GSS_ERROR(major)) {
    throw_gss(env, "gss_wrap_size_limit", major, minor);
    return NULL;
  }
  napi_value result;
  NAPI_CALL(env, napi_create_uint32(env, limit, &result));
  return result;
}

/* The numbers TypeScript must agree on with C, written once here. */
static void export_number(napi_env env, napi_value target, const char *name, uint32_t value) {
  napi_value number;
  napi_create_uint32(env, value, &number);
  napi_set_named_property(env, target, name, number);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value available;
  napi_get_boolean(env, true, &available);
  napi_set_named_property(env, exports, "available", available);
  const struct {
    const char *name;
    napi_callback fn;
  } functions[] = {
      {"acquireAcceptor", acquire_acceptor}, {"createContext", create_context}, {"deleteContext", delete_context}, {"accept", accept_round},
      {"initiate", initiate_round},          {"wrap", wrap_message},            {"unwrap", unwrap_message},         {"wrapSizeLimit", wrap_size_limit},
  };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    NAPI_CALL(env, napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn));
    NAPI_CALL(env, napi_set_named_property(env, exports, functions[i].name, fn));
  }
  napi_value kinds, flags;
  napi_create_object(env, &kinds);
  export_number(env, kinds, "principal", NAME_PRINCIPAL);
  export_number(env, kinds, "hostBased", NAME_HOST_BASED);
  napi_set_named_property(env, exports, "nameKind", kinds);
  napi_create_object(env, &flags);
  export_number(env, flags, "mutual", GSS_C_MUTUAL_FLAG);
  export_number(env, flags, "replay", GSS_C_REPLAY_FLAG);
  export_number(env, flags, "sequence", GSS_C_SEQUENCE_FLAG);
  export_number(env, flags, "confidentiality", GSS_C_CONF_FLAG);
  export_number(env, flags, "integrity", GSS_C_INTEG_FLAG);
  export_number(env, flags, "anonymous", GSS_C_ANON_FLAG);
  napi_set_named_property(env, exports, "flags", flags);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
