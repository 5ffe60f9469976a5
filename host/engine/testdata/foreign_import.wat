;; A waPC-shaped guest that imports a function no wisp host provides.
(module
  (import "env" "abort" (func $abort))
  (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1)))
