;; A valid module that is not a waPC guest: no __guest_call.
(module (memory (export "memory") 1) (func (export "run")))
