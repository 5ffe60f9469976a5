//go:build wasmtime

// The part of Wasmtime's C API that the wasmtime engine calls directly, and
// wisp's C bridge around it (wasmtime_capi.c).
//
// wasmtime-go links libwasmtime and wraps most of the API, but its wrappers
// cross between Go and C several times per host-function call (once per
// argument, once for the store's data, three times for the memory) and its
// Func.Call allocates per call. wisp calls the functions below itself:
//
//   - an invocation is one crossing from Go to C (wisp_call), which hands C
//     the operation and payload for __guest_request;
//   - __guest_request, __guest_response, __guest_error, __host_response_len,
//     __host_response, __host_error_len and __host_error are answered in C,
//     from the store's wisp_store, without entering Go;
//   - __host_call, __console_log and WASI's poll_oneoff are one crossing
//     from C to Go each.
//
// The declarations follow Wasmtime 39's headers (wasmtime.h, wasi.h), which
// wasmtime-go ships but cgo cannot find from this module. The engine checks
// at start that the handle structs have the sizes wasmtime-go's own cgo
// types have, and TestWasmtimeDeclarationsMatchHeaders compiles this file
// against the real headers (defining WISP_WITH_WASMTIME_H), where a
// prototype that differs is a compile error.
#ifndef WISP_WASMTIME_CAPI_H
#define WISP_WASMTIME_CAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef WISP_WITH_WASMTIME_H
// Opaque Wasmtime objects.
typedef struct wasm_engine_t wasm_engine_t;
typedef struct wasm_trap_t wasm_trap_t;
typedef struct wasm_valtype_t wasm_valtype_t;
typedef struct wasm_functype_t wasm_functype_t;
typedef struct wasi_config_t wasi_config_t;
typedef struct wasmtime_store wasmtime_store_t;
typedef struct wasmtime_context wasmtime_context_t;
typedef struct wasmtime_caller wasmtime_caller_t;
typedef struct wasmtime_linker wasmtime_linker_t;
typedef struct wasmtime_module wasmtime_module_t;
typedef struct wasmtime_instance_pre wasmtime_instance_pre_t;
typedef struct wasmtime_error wasmtime_error_t;

typedef struct wasm_byte_vec_t {
  size_t size;
  char *data;
} wasm_byte_vec_t;

typedef struct wasm_valtype_vec_t {
  size_t size;
  wasm_valtype_t **data;
} wasm_valtype_vec_t;

// Handles into a store: plain values, no destructor.
typedef struct wasmtime_func {
  uint64_t store_id;
  void *private_;
} wasmtime_func_t;

typedef struct wasmtime_memory {
  struct {
    uint64_t store_id;
    uint32_t private1;
  };
  uint32_t private2;
} wasmtime_memory_t;

typedef struct wasmtime_global {
  uint64_t store_id;
  uint32_t private1, private2, private3;
} wasmtime_global_t;

typedef struct wasmtime_instance {
  uint64_t store_id;
  size_t private_;
} wasmtime_instance_t;

typedef struct wasmtime_extern {
  uint8_t kind;
  union {
    wasmtime_func_t func;
    wasmtime_global_t global;
    wasmtime_memory_t table;
    wasmtime_memory_t memory;
    void *sharedmemory;
  } of;
} wasmtime_extern_t;

// A value without type information, 16 bytes, little-endian: an i32 is in
// the first four bytes.
typedef union wasmtime_val_raw {
  int32_t i32;
  int64_t i64;
  float f32;
  double f64;
  uint8_t v128[16];
  uint32_t anyref;
  uint32_t externref;
  void *funcref;
} wasmtime_val_raw_t;

typedef wasm_trap_t *(*wasmtime_func_unchecked_callback_t)(
    void *env, wasmtime_caller_t *caller, wasmtime_val_raw_t *args_and_results,
    size_t num_args_and_results);
#endif // WISP_WITH_WASMTIME_H

#define WISP_EXTERN_FUNC 0
#define WISP_EXTERN_MEMORY 3
#define WISP_KIND_I32 0

// wasm.h
wasm_valtype_t *wasm_valtype_new(uint8_t kind);
void wasm_valtype_vec_new(wasm_valtype_vec_t *out, size_t n, wasm_valtype_t *const data[]);
void wasm_valtype_vec_new_empty(wasm_valtype_vec_t *out);
wasm_functype_t *wasm_functype_new(wasm_valtype_vec_t *params, wasm_valtype_vec_t *results);
void wasm_functype_delete(wasm_functype_t *);
void wasm_byte_vec_delete(wasm_byte_vec_t *);
void wasm_trap_message(const wasm_trap_t *, wasm_byte_vec_t *out);
void wasm_trap_delete(wasm_trap_t *);

// wasmtime/error.h, trap.h
void wasmtime_error_message(const wasmtime_error_t *, wasm_byte_vec_t *out);
bool wasmtime_error_exit_status(const wasmtime_error_t *, int *status);
void wasmtime_error_delete(wasmtime_error_t *);
wasm_trap_t *wasmtime_trap_new(const char *msg, size_t len);
bool wasmtime_trap_code(const wasm_trap_t *, uint8_t *code);

// wasmtime/store.h
wasmtime_store_t *wasmtime_store_new(wasm_engine_t *engine, void *data, void (*finalizer)(void *));
wasmtime_context_t *wasmtime_store_context(wasmtime_store_t *store);
void wasmtime_store_limiter(wasmtime_store_t *store, int64_t memory_size, int64_t table_elements,
                            int64_t instances, int64_t tables, int64_t memories);
void wasmtime_store_delete(wasmtime_store_t *store);
void *wasmtime_context_get_data(const wasmtime_context_t *context);
wasmtime_error_t *wasmtime_context_set_wasi(wasmtime_context_t *context, wasi_config_t *wasi);
wasmtime_error_t *wasmtime_context_set_fuel(wasmtime_context_t *store, uint64_t fuel);
void wasmtime_context_set_epoch_deadline(wasmtime_context_t *context, uint64_t ticks_beyond_current);

// wasmtime/linker.h, instance.h
wasmtime_linker_t *wasmtime_linker_new(wasm_engine_t *engine);
void wasmtime_linker_delete(wasmtime_linker_t *linker);
void wasmtime_linker_allow_shadowing(wasmtime_linker_t *linker, bool allow);
wasmtime_error_t *wasmtime_linker_define_wasi(wasmtime_linker_t *linker);
wasmtime_error_t *wasmtime_linker_define_func_unchecked(
    wasmtime_linker_t *linker, const char *module, size_t module_len, const char *name,
    size_t name_len, const wasm_functype_t *ty, wasmtime_func_unchecked_callback_t cb, void *data,
    void (*finalizer)(void *));
wasmtime_error_t *wasmtime_linker_instantiate_pre(const wasmtime_linker_t *linker,
                                                  const wasmtime_module_t *module,
                                                  wasmtime_instance_pre_t **instance_pre);
void wasmtime_instance_pre_delete(wasmtime_instance_pre_t *instance_pre);
wasmtime_error_t *wasmtime_instance_pre_instantiate(const wasmtime_instance_pre_t *instance_pre,
                                                    wasmtime_context_t *store,
                                                    wasmtime_instance_t *instance,
                                                    wasm_trap_t **trap);
bool wasmtime_instance_export_get(wasmtime_context_t *store, const wasmtime_instance_t *instance,
                                  const char *name, size_t name_len, wasmtime_extern_t *item);

// wasmtime/func.h, memory.h
wasmtime_error_t *wasmtime_func_call_unchecked(wasmtime_context_t *store, const wasmtime_func_t *func,
                                               wasmtime_val_raw_t *args_and_results,
                                               size_t args_and_results_len, wasm_trap_t **trap);
bool wasmtime_caller_export_get(wasmtime_caller_t *caller, const char *name, size_t name_len,
                                wasmtime_extern_t *item);
wasmtime_context_t *wasmtime_caller_context(wasmtime_caller_t *caller);
uint8_t *wasmtime_memory_data(const wasmtime_context_t *store, const wasmtime_memory_t *memory);
size_t wasmtime_memory_data_size(const wasmtime_context_t *store, const wasmtime_memory_t *memory);

// wasi.h
wasi_config_t *wasi_config_new(void);
bool wasi_config_set_argv(wasi_config_t *config, size_t argc, const char *argv[]);
void wasi_config_set_stdout_custom(wasi_config_t *config,
                                   ptrdiff_t (*callback)(void *, const unsigned char *, size_t),
                                   void *data, void (*finalizer)(void *));
void wasi_config_set_stderr_custom(wasi_config_t *config,
                                   ptrdiff_t (*callback)(void *, const unsigned char *, size_t),
                                   void *data, void (*finalizer)(void *));

// ---- wisp's bridge (wasmtime_capi.c) ----

// wisp_store is a store's data: the waPC state one invocation needs in C.
// Go reads and writes it between and during calls (it is C memory, so Go may
// keep the pointer); C reads and writes it inside the guest.
typedef struct wisp_store {
  uintptr_t id; // the Go instance's id, for the host functions that enter Go

  wasmtime_memory_t mem; // the guest's exported memory, once instantiated
  int has_mem;

  // Set by wisp_call for one invocation: the operation and payload
  // __guest_request copies into the guest. They point into Go memory that
  // the cgo call keeps alive; wisp_call clears them before it returns.
  const uint8_t *op;
  size_t op_len;
  const uint8_t *payload;
  size_t payload_len;

  // Written by __guest_response and __guest_error: where in guest memory
  // the answer is. Go copies it out after the call.
  uint32_t resp_ptr, resp_len, err_ptr, err_len;
  int has_resp, has_err;

  // The answer to the guest's latest __host_call, written by Go into
  // host_buf (malloc'd, host_cap bytes): a response when host_ok, else an
  // error message.
  uint8_t *host_buf;
  size_t host_cap, host_len;
  int host_ok;
} wisp_store;

// The outcome of a call into the guest.
typedef struct wisp_outcome {
  int kind;        // WISP_OK, WISP_TRAP, WISP_EXIT or WISP_ERROR
  int has_code;    // for WISP_TRAP: code is a Wasmtime trap code
  int code;        // the trap code
  int status;      // for WISP_EXIT: the guest's exit status
  uint32_t result; // for WISP_OK: the i32 the function returned, if any
  char *msg;       // for WISP_TRAP and WISP_ERROR: malloc'd, the caller frees
  uint8_t *mem;    // the guest's memory after the call, if it has one
  size_t mem_len;
} wisp_outcome;

#define WISP_OK 0
#define WISP_TRAP 1
#define WISP_EXIT 2
#define WISP_ERROR 3

// The host functions, by the id their trampoline is defined with.
enum {
  WISP_FN_GUEST_REQUEST,
  WISP_FN_GUEST_RESPONSE,
  WISP_FN_GUEST_ERROR,
  WISP_FN_HOST_CALL,
  WISP_FN_HOST_RESPONSE_LEN,
  WISP_FN_HOST_RESPONSE,
  WISP_FN_HOST_ERROR_LEN,
  WISP_FN_HOST_ERROR,
  WISP_FN_CONSOLE_LOG,
  WISP_FN_POLL_ONEOFF,
};

// Sizes of the handle structs as declared here, for the engine's check.
extern const size_t wisp_sizeof_func, wisp_sizeof_memory, wisp_sizeof_instance,
    wisp_sizeof_val_raw;

// wisp_define_func defines host function fn (a WISP_FN_ id) as
// module.name, of type (i32 x nparams) -> (i32 x nresults). NULL or an error
// the caller passes to wisp_error.
wasmtime_error_t *wisp_define_func(wasmtime_linker_t *linker, const char *module, const char *name,
                                   int fn, int nparams, int nresults);

// wisp_store_new creates a store whose data is a new wisp_store for
// instance id (freed with the store), with its limits.
wasmtime_store_t *wisp_store_new(wasm_engine_t *engine, uintptr_t id, int64_t memory_bytes,
                                 int64_t table_elements, wisp_store **data);

// wisp_host_reserve makes room for n bytes in s->host_buf; false when out
// of memory.
bool wisp_host_reserve(wisp_store *s, size_t n);

// wisp_set_wasi gives the store WASI preview 1 with argv {name}; out and err
// route stdout and stderr to the Go writers of instance id (0 discards).
wasmtime_error_t *wisp_set_wasi(wasmtime_context_t *cx, const char *name, size_t name_len,
                                uintptr_t out, uintptr_t err);

// wisp_instantiate instantiates pre in cx within ticks epochs (and fuel
// units, when not 0) and keeps the instance's memory in s.
void wisp_instantiate(const wasmtime_instance_pre_t *pre, wasmtime_context_t *cx, wisp_store *s,
                      uint64_t ticks, uint64_t fuel, wasmtime_instance_t *inst, wisp_outcome *out);

// wisp_export_func finds the exported function name; false if there is none.
bool wisp_export_func(wasmtime_context_t *cx, const wasmtime_instance_t *inst, const char *name,
                      wasmtime_func_t *fn);

// wisp_call calls fn within ticks epochs (and fuel units, when not 0), with (op_len, payload_len) as
// arguments when nargs is 2 (__guest_call) and none when it is 0 (start
// functions). op and payload are what __guest_request hands the guest.
void wisp_call(wasmtime_context_t *cx, wisp_store *s, wasmtime_func_t fn, uint64_t ticks,
               uint64_t fuel, const uint8_t *op, size_t op_len, const uint8_t *payload, size_t payload_len,
               size_t nargs, wisp_outcome *out);

// wisp_error returns err's message, malloc'd, and deletes err.
char *wisp_error(wasmtime_error_t *err);

// wisp_trap makes a trap with a message, for a host function to return.
wasm_trap_t *wisp_trap(const char *msg, size_t len);

#endif
