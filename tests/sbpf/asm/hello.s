# A complete little program: a local call, a call through a pointer table in
# .data.rel.ro (R_BPF_64_ABS64 + callx), an lddw of .rodata (R_BPF_64_64) and a syscall.
	.text
	.globl	entrypoint
	.type	entrypoint,@function
entrypoint:
	call	greet
	r0 = 0
	exit

	.type	greet,@function
greet:
	r6 = table ll
	r6 = *(u64 *)(r6 + 0)
	callx	r6
	exit

	.type	log_hello,@function
log_hello:
	r1 = message ll
	r2 = 11
	call	sol_log_
	exit

	.section	.rodata,"a",@progbits
message:
	.ascii	"hello, grid"

	.section	.data.rel.ro,"aw",@progbits
	.p2align	3
table:
	.quad	log_hello
