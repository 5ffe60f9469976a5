//go:build wasmtime

// wisp's C bridge to Wasmtime; see wasmtime_capi.h.

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "_cgo_export.h"
#include "wasmtime_capi.h"

const size_t wisp_sizeof_func = sizeof(wasmtime_func_t);
const size_t wisp_sizeof_memory = sizeof(wasmtime_memory_t);
const size_t wisp_sizeof_instance = sizeof(wasmtime_instance_t);
const size_t wisp_sizeof_val_raw = sizeof(wasmtime_val_raw_t);

// oob traps the guest for a host function's access outside its memory, with
// the message the wazero engine gives.
static wasm_trap_t *oob(const char *verb, uint64_t n, uint32_t at) {
  char msg[96];
  int len = snprintf(msg, sizeof msg, "guest memory %s out of range: %llu bytes at %u", verb,
                     (unsigned long long)n, at);
  return wasmtime_trap_new(msg, (size_t)len);
}

static int in_range(size_t size, uint32_t ptr, uint64_t n) {
  return (uint64_t)ptr + n <= (uint64_t)size;
}

// put copies n bytes to guest memory at ptr.
static wasm_trap_t *put(uint8_t *base, size_t size, uint32_t ptr, const uint8_t *b, size_t n) {
  if (!in_range(size, ptr, n))
    return oob("write", n, ptr);
  if (n > 0)
    memcpy(base + ptr, b, n);
  return NULL;
}

// trampoline is every host function. The waPC bookkeeping functions are
// answered here; the others enter Go once, in wispHostCall.
static wasm_trap_t *trampoline(void *env, wasmtime_caller_t *caller, wasmtime_val_raw_t *args,
                               size_t nargs) {
  int fn = (int)(uintptr_t)env;
  wasmtime_context_t *cx = wasmtime_caller_context(caller);
  wisp_store *s = wasmtime_context_get_data(cx);
  uint8_t *base = NULL;
  size_t size = 0;
  if (s->has_mem) {
    base = wasmtime_memory_data(cx, &s->mem);
    size = wasmtime_memory_data_size(cx, &s->mem);
  } else {
    // Called during instantiation, from the module's start section.
    wasmtime_extern_t mem;
    if (wasmtime_caller_export_get(caller, "memory", 6, &mem) && mem.kind == WISP_EXTERN_MEMORY) {
      base = wasmtime_memory_data(cx, &mem.of.memory);
      size = wasmtime_memory_data_size(cx, &mem.of.memory);
    }
  }
  uint32_t a0 = nargs > 0 ? (uint32_t)args[0].i32 : 0;
  uint32_t a1 = nargs > 1 ? (uint32_t)args[1].i32 : 0;
  wasm_trap_t *trap;
  switch (fn) {
  case WISP_FN_GUEST_REQUEST:
    if (!in_range(size, a0, s->op_len))
      return oob("write", s->op_len, a0);
    if ((trap = put(base, size, a1, s->payload, s->payload_len)) != NULL)
      return trap;
    return put(base, size, a0, s->op, s->op_len);
  case WISP_FN_GUEST_RESPONSE:
    if (!in_range(size, a0, a1))
      return oob("read", a1, a0);
    s->resp_ptr = a0;
    s->resp_len = a1;
    s->has_resp = 1;
    return NULL;
  case WISP_FN_GUEST_ERROR:
    if (!in_range(size, a0, a1))
      return oob("read", a1, a0);
    s->err_ptr = a0;
    s->err_len = a1;
    s->has_err = 1;
    return NULL;
  case WISP_FN_HOST_RESPONSE_LEN:
    args[0].i64 = 0;
    args[0].i32 = s->host_ok ? (int32_t)s->host_len : 0;
    return NULL;
  case WISP_FN_HOST_RESPONSE:
    return put(base, size, a0, s->host_buf, s->host_ok ? s->host_len : 0);
  case WISP_FN_HOST_ERROR_LEN:
    args[0].i64 = 0;
    args[0].i32 = s->host_ok ? 0 : (int32_t)s->host_len;
    return NULL;
  case WISP_FN_HOST_ERROR:
    return put(base, size, a0, s->host_buf, s->host_ok ? 0 : s->host_len);
  default:
    return wispHostCall(s, fn, args, nargs, base, size);
  }
}

wasmtime_error_t *wisp_define_func(wasmtime_linker_t *linker, const char *module, const char *name,
                                   int fn, int nparams, int nresults) {
  wasm_valtype_t *ps[8], *rs[1];
  wasm_valtype_vec_t params, results;
  if (nparams > 8 || nresults > 1)
    abort();
  for (int i = 0; i < nparams; i++)
    ps[i] = wasm_valtype_new(WISP_KIND_I32);
  for (int i = 0; i < nresults; i++)
    rs[i] = wasm_valtype_new(WISP_KIND_I32);
  if (nparams)
    wasm_valtype_vec_new(&params, nparams, ps);
  else
    wasm_valtype_vec_new_empty(&params);
  if (nresults)
    wasm_valtype_vec_new(&results, nresults, rs);
  else
    wasm_valtype_vec_new_empty(&results);
  wasm_functype_t *ty = wasm_functype_new(&params, &results);
  wasmtime_error_t *err = wasmtime_linker_define_func_unchecked(
      linker, module, strlen(module), name, strlen(name), ty, trampoline, (void *)(uintptr_t)fn,
      NULL);
  wasm_functype_delete(ty);
  return err;
}

static void store_free(void *p) {
  wisp_store *s = p;
  free(s->host_buf);
  free(s);
}

wasmtime_store_t *wisp_store_new(wasm_engine_t *engine, uintptr_t id, int64_t memory_bytes,
                                 int64_t table_elements, wisp_store **data) {
  wisp_store *s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->id = id;
  wasmtime_store_t *st = wasmtime_store_new(engine, s, store_free);
  // One memory of at most memory_bytes; other limits keep their defaults.
  wasmtime_store_limiter(st, memory_bytes, table_elements, -1, -1, 1);
  *data = s;
  return st;
}

bool wisp_host_reserve(wisp_store *s, size_t n) {
  if (n <= s->host_cap)
    return true;
  size_t c = s->host_cap ? s->host_cap : 256;
  while (c < n)
    c *= 2;
  uint8_t *b = realloc(s->host_buf, c);
  if (b == NULL)
    return false;
  s->host_buf = b;
  s->host_cap = c;
  return true;
}

static ptrdiff_t write_out(void *id, const unsigned char *buf, size_t len) {
  if (id == NULL || len == 0)
    return (ptrdiff_t)len;
  return wispWrite((uintptr_t)id, 1, (unsigned char *)buf, len);
}

static ptrdiff_t write_err(void *id, const unsigned char *buf, size_t len) {
  if (id == NULL || len == 0)
    return (ptrdiff_t)len;
  return wispWrite((uintptr_t)id, 2, (unsigned char *)buf, len);
}

wasmtime_error_t *wisp_set_wasi(wasmtime_context_t *cx, const char *name, size_t name_len,
                                uintptr_t out, uintptr_t err) {
  wasi_config_t *c = wasi_config_new();
  char *arg0 = malloc(name_len + 1);
  if (arg0 != NULL) {
    memcpy(arg0, name, name_len);
    arg0[name_len] = 0;
    const char *argv[1] = {arg0};
    wasi_config_set_argv(c, 1, argv);
    free(arg0);
  }
  wasi_config_set_stdout_custom(c, write_out, (void *)out, NULL);
  wasi_config_set_stderr_custom(c, write_err, (void *)err, NULL);
  return wasmtime_context_set_wasi(cx, c);
}

static char *dup_vec(wasm_byte_vec_t *v) {
  size_t n = v->size;
  while (n > 0 && v->data[n - 1] == 0)
    n--;
  char *s = malloc(n + 1);
  if (s == NULL)
    return NULL;
  if (n > 0)
    memcpy(s, v->data, n);
  s[n] = 0;
  return s;
}

char *wisp_error(wasmtime_error_t *err) {
  wasm_byte_vec_t m = {0, NULL};
  wasmtime_error_message(err, &m);
  char *s = dup_vec(&m);
  wasm_byte_vec_delete(&m);
  wasmtime_error_delete(err);
  return s;
}

// outcome fills out from what a call or an instantiation returned, and
// frees err and trap.
static void outcome(wasmtime_error_t *err, wasm_trap_t *trap, wisp_outcome *out) {
  if (trap != NULL) {
    uint8_t code = 0;
    wasm_byte_vec_t m = {0, NULL};
    out->kind = WISP_TRAP;
    out->has_code = wasmtime_trap_code(trap, &code);
    out->code = code;
    wasm_trap_message(trap, &m);
    out->msg = dup_vec(&m);
    wasm_byte_vec_delete(&m);
    wasm_trap_delete(trap);
    if (err != NULL)
      wasmtime_error_delete(err);
    return;
  }
  if (err == NULL)
    return;
  int status;
  if (wasmtime_error_exit_status(err, &status)) {
    out->kind = WISP_EXIT;
    out->status = status;
    wasmtime_error_delete(err);
    return;
  }
  out->kind = WISP_ERROR;
  out->msg = wisp_error(err);
}

// limit sets the epoch deadline and the fuel of the next call; an error
// (fuel without fuel metering) goes to out.
static bool limit(wasmtime_context_t *cx, uint64_t ticks, uint64_t fuel, wisp_outcome *out) {
  wasmtime_context_set_epoch_deadline(cx, ticks);
  if (fuel == 0)
    return true;
  wasmtime_error_t *err = wasmtime_context_set_fuel(cx, fuel);
  if (err == NULL)
    return true;
  out->kind = WISP_ERROR;
  out->msg = wisp_error(err);
  return false;
}

void wisp_instantiate(const wasmtime_instance_pre_t *pre, wasmtime_context_t *cx, wisp_store *s,
                      uint64_t ticks, uint64_t fuel, wasmtime_instance_t *inst, wisp_outcome *out) {
  wasm_trap_t *trap = NULL;
  memset(out, 0, sizeof *out);
  if (!limit(cx, ticks, fuel, out))
    return;
  wasmtime_error_t *err = wasmtime_instance_pre_instantiate(pre, cx, inst, &trap);
  outcome(err, trap, out);
  if (out->kind != WISP_OK)
    return;
  wasmtime_extern_t mem;
  if (wasmtime_instance_export_get(cx, inst, "memory", 6, &mem) && mem.kind == WISP_EXTERN_MEMORY) {
    s->mem = mem.of.memory;
    s->has_mem = 1;
  }
}

bool wisp_export_func(wasmtime_context_t *cx, const wasmtime_instance_t *inst, const char *name,
                      wasmtime_func_t *fn) {
  wasmtime_extern_t e;
  if (!wasmtime_instance_export_get(cx, inst, name, strlen(name), &e) || e.kind != WISP_EXTERN_FUNC)
    return false;
  *fn = e.of.func;
  return true;
}

void wisp_call(wasmtime_context_t *cx, wisp_store *s, wasmtime_func_t fn, uint64_t ticks,
               uint64_t fuel, const uint8_t *op, size_t op_len, const uint8_t *payload, size_t payload_len,
               size_t nargs, wisp_outcome *out) {
  wasmtime_val_raw_t args[2];
  wasm_trap_t *trap = NULL;
  memset(out, 0, sizeof *out);
  memset(args, 0, sizeof args);
  args[0].i32 = (int32_t)op_len;
  args[1].i32 = (int32_t)payload_len;
  s->op = op;
  s->op_len = op_len;
  s->payload = payload;
  s->payload_len = payload_len;
  s->has_resp = s->has_err = 0;
  s->host_len = 0;
  s->host_ok = 0;
  if (!limit(cx, ticks, fuel, out))
    return;
  wasmtime_error_t *err = wasmtime_func_call_unchecked(cx, &fn, args, nargs, &trap);
  // The Go memory op and payload point to is only ours during this call.
  s->op = s->payload = NULL;
  s->op_len = s->payload_len = 0;
  if (s->has_mem) {
    out->mem = wasmtime_memory_data(cx, &s->mem);
    out->mem_len = wasmtime_memory_data_size(cx, &s->mem);
  }
  if (err == NULL && trap == NULL) {
    out->kind = WISP_OK;
    out->result = (uint32_t)args[0].i32;
    return;
  }
  outcome(err, trap, out);
}

wasm_trap_t *wisp_trap(const char *msg, size_t len) { return wasmtime_trap_new(msg, len); }
