;; A waPC guest whose start function (the start section's) never returns.
;; The host must stop it at the call timeout, not hang instantiating it.
(module
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 1)
  (func $start (loop $forever (br $forever)))
  (start $start)
  (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1)))
