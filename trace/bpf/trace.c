// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// taiji trace: one program for every probe site of every traced function.
// The attach cookie names the site; its plan (written by user space) says
// whether it is an entry or a return and which memory to capture. Nothing
// here rewrites the target's stack: returns are seen by probes on the RET
// instructions, never by uretprobes, which break Go's stack copying.

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#if defined(__TARGET_ARCH_x86)
#define PTREGS_WORDS 21 /* struct pt_regs */
#elif defined(__TARGET_ARCH_arm64)
#define PTREGS_WORDS 34 /* struct user_pt_regs */
#elif defined(__TARGET_ARCH_powerpc)
#define PTREGS_WORDS 44 /* struct user_pt_regs: gpr[32] ... result */
#elif defined(__TARGET_ARCH_s390)
#define PTREGS_WORDS 19 /* user_pt_regs: args[1], psw, gprs[16] */
#elif defined(__TARGET_ARCH_riscv)
#define PTREGS_WORDS 32 /* struct user_regs_struct: pc, x1..x31 */
#else
#error "unsupported architecture"
#endif

#define MAX_PROBES 4096
#define MAX_FUNCS 512
#define MAX_ITEMS 16
#define NBUCKETS 256
#define REGS_WORDS 44    /* room for the largest pt_regs (ppc64's): same event layout on every arch */
#define STACK_BYTES 256  /* bytes copied from SP: stack-assigned arguments, results */
#define HDR_BYTES 80
#define REGS_OFF HDR_BYTES
#define STACK_OFF (REGS_OFF + REGS_WORDS * 8)
#define DATA_OFF (STACK_OFF + STACK_BYTES)
#define DATA_MASK 8191   /* items start below DATA_MASK+1 */
#define ITEM_MASK 2047   /* one item captures at most ITEM_MAX bytes */
#define ITEM_MAX 1024
#define USTACK_BYTES 1024
#define KSTACK_BYTES 1024
#define SCRATCH_BYTES 16384

#define BUF_REGS 0
#define BUF_STACK 1
#define LEN_CONST 0xff
#define LEN_CSTR 0xfe    /* a NUL-terminated string of at most len_const bytes */

#define KIND_ENTRY 0
#define KIND_RETURN 1

#define FLAG_UNMATCHED 1  /* return without a recorded entry */
#define FLAG_USTACK 2     /* a user stack follows the items */
#define FLAG_KSTACK 4     /* a kernel stack follows (the uprobe's trap path) */

struct item {
	__u8 ptr_buf;  /* BUF_REGS, BUF_STACK or 2+k: item k's bytes */
	__u8 len_buf;  /* same, or LEN_CONST */
	__u16 ptr_off;
	__u16 len_off;
	__u16 elem;    /* bytes per unit of the length word */
	__u32 len_const;
	__u32 max;     /* capture at most this many bytes */
};

struct plan {
	__u32 func;
	__u8 kind;
	__u8 is_go;
	__u8 nitems;
	__u8 dedupe;   /* entry probe on a Go first instruction: drop re-entry after morestack */
	struct item items[MAX_ITEMS];
	/* An entry site that is also a RET (a function whose body is one
	 * RET): the plan of that return, recorded by the same probe right
	 * after the call. 0: none (plan 0 is always an entry). */
	__u32 ret;
};

struct stats {
	__u64 calls, returns, lost, unmatched, sum, max;
	__u64 hist[NBUCKETS];
};

struct key {
	__u64 g;      /* g pointer (Go) or pid_tgid (C) */
	__u64 depth;  /* stack.hi - SP (Go: survives stack copies) or SP (C) */
	__u32 func;
	__u32 pad;
};

struct hdr {
	__u64 ts, goid, g, depth, duration;
	__u32 pid, tid;
	__u32 probe, flags;
	__u32 size, ustack;  /* total event bytes; offset of the user stack */
	__u32 ustack_len, nitems;
	__u32 kstack, kstack_len;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_PROBES);
	__type(key, __u32);
	__type(value, struct plan);
} plans SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_FUNCS);
	__type(key, __u32);
	__type(value, struct stats);
} func_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct key);
	__type(value, __u64);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

struct scratch {
	__u8 b[SCRATCH_BYTES + 16];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* Set by user space before loading. */
volatile const __s32 g_reg_off = -1;   /* offset of the g register in pt_regs */
volatile const __u32 sp_off = 0;       /* offset of SP in pt_regs */
volatile const __u32 goid_off = 0;     /* runtime.g.goid */
volatile const __u32 stackhi_off = 8;  /* runtime.g.stack.hi */
volatile const __u8 quiet = 0;         /* aggregate only: no events */
volatile const __u8 want_ustack = 0;
volatile const __u8 want_kstack = 0;

static __always_inline __u32 bucket(__u64 d)
{
	/* log2 with 2 sub-bits: 4 buckets per power of two. */
	__u32 l = 0;
	__u64 v = d;
	if (v >> 32) { l += 32; v >>= 32; }
	if (v >> 16) { l += 16; v >>= 16; }
	if (v >> 8) { l += 8; v >>= 8; }
	if (v >> 4) { l += 4; v >>= 4; }
	if (v >> 2) { l += 2; v >>= 2; }
	if (v >> 1) { l += 1; }
	__u32 sub = l >= 2 ? (__u32)(d >> (l - 2)) & 3 : (__u32)d & 3;
	return (l * 4 + sub) & (NBUCKETS - 1);
}

/* The words a plan reads (pointers, lengths) are 8-aligned in the event;
 * the mask says so to the verifier, which refuses a possibly misaligned
 * load where the arch lacks efficient unaligned access (riscv64). */
static __always_inline __u64 word(__u8 *b, __u32 base, __u32 off)
{
	__u32 at = (base + off) & (SCRATCH_BYTES - 8);
	return *(__u64 *)(b + at);
}

static __always_inline __u32 src_base(__u8 buf, __u32 *item_off)
{
	if (buf == BUF_REGS)
		return REGS_OFF;
	if (buf == BUF_STACK)
		return STACK_OFF;
	return item_off[(buf - 2) & (MAX_ITEMS - 1)] + 8;
}

/* site records the event of plan idx at time now and returns the plan of a
 * return at the same instruction (struct plan's ret), or 0. */
static __always_inline __u32 site(struct pt_regs *ctx, __u32 idx, __u64 now)
{
	struct plan *p = bpf_map_lookup_elem(&plans, &idx);
	if (!p)
		return 0;
	__u32 ret = p->ret;
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	__u8 *b = s->b;
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	/* Copy pt_regs with constant offsets: the verifier forbids indexing ctx. */
	__u64 *regs = (__u64 *)(b + REGS_OFF);
	__u64 *c = (__u64 *)ctx;
#pragma unroll
	for (int i = 0; i < PTREGS_WORDS; i++)
		regs[i] = c[i];

	__u64 sp = regs[(sp_off / 8) & 63];
	__u64 g = 0, depth = sp, gkey = pid_tgid, goid = 0;
	if (p->is_go && g_reg_off >= 0) {
		g = regs[((__u32)g_reg_off / 8) & 63];
		__u64 hi = 0;
		bpf_probe_read_user(&hi, sizeof(hi), (void *)(g + stackhi_off));
		depth = hi - sp;
		gkey = g;
	}

	__u32 fn = p->func;
	struct stats *st = bpf_map_lookup_elem(&func_stats, &fn);
	if (!st)
		return 0;
	struct key k = {.g = gkey, .depth = depth, .func = fn};
	__u64 duration = 0;
	__u32 flags = 0;
	if (p->kind == KIND_ENTRY) {
		if (p->dedupe && bpf_map_lookup_elem(&inflight, &k))
			return 0; /* the same call again, after morestack */
		bpf_map_update_elem(&inflight, &k, &now, BPF_ANY);
		st->calls++;
	} else {
		__u64 *t0 = bpf_map_lookup_elem(&inflight, &k);
		if (t0) {
			duration = now - *t0;
			bpf_map_delete_elem(&inflight, &k);
			st->returns++;
			st->sum += duration;
			if (duration > st->max)
				st->max = duration;
			st->hist[bucket(duration)]++;
		} else {
			st->unmatched++;
			flags |= FLAG_UNMATCHED;
		}
	}
	if (quiet)
		return ret;

	if (p->is_go && g && goid_off)
		bpf_probe_read_user(&goid, sizeof(goid), (void *)(g + goid_off));
	bpf_probe_read_user(b + STACK_OFF, STACK_BYTES, (void *)sp);

	__u32 item_off[MAX_ITEMS] = {};
	__u32 cur = DATA_OFF;
	__u32 n = p->nitems;
	for (int i = 0; i < MAX_ITEMS; i++) {
		if (i >= n)
			break;
		struct item *it = &p->items[i];
		__u64 ptr = word(b, src_base(it->ptr_buf, item_off), it->ptr_off);
		__u64 want;
		if (it->len_buf == LEN_CONST || it->len_buf == LEN_CSTR)
			want = it->len_const;
		else
			want = word(b, src_base(it->len_buf, item_off), it->len_off) * it->elem;
		__u64 got = want;
		if (got > it->max)
			got = it->max;
		if (got > ITEM_MAX)
			got = ITEM_MAX;
		cur &= DATA_MASK;
		item_off[i] = cur;
		if (got && it->len_buf == LEN_CSTR) {
			/* Stops at the NUL, and unlike a fixed-size read does not
			 * fail when the string ends just before an unmapped page. */
			long r = bpf_probe_read_user_str(b + cur + 8, got & ITEM_MASK, (void *)ptr);
			got = r < 0 ? 0xffffffff : (__u64)r;
			want = got;
		} else if (got && bpf_probe_read_user(b + cur + 8, got & ITEM_MASK, (void *)ptr) != 0)
			got = 0xffffffff; /* unreadable */
		*(__u32 *)(b + cur) = got;
		*(__u32 *)(b + cur + 4) = want > 0xfffffffe ? 0xfffffffe : want;
		if (got == 0xffffffff)
			got = 0;
		cur += 8 + ((got + 7) & ~7ULL);
	}
	cur &= DATA_MASK;
	__u32 ustack = 0, ulen = 0;
	if (want_ustack && p->kind == KIND_ENTRY) {
		long r = bpf_get_stack(ctx, b + cur, USTACK_BYTES, BPF_F_USER_STACK);
		if (r > 0) {
			ustack = cur;
			ulen = r;
			flags |= FLAG_USTACK;
			cur += r & (USTACK_BYTES * 2 - 1);
		}
	}

	__u32 kstack = 0, klen = 0;
	if (want_kstack && p->kind == KIND_ENTRY) {
		/* The probed function runs in user mode, so this is the path of
		 * the uprobe's trap into the kernel, not the function's own. With
		 * user-mode regs bpf_get_stack has no kernel frames to give; the
		 * current task's saved stack has them. */
		cur &= SCRATCH_BYTES - 1;
		if (cur <= SCRATCH_BYTES - KSTACK_BYTES) {
			long r = bpf_get_task_stack(bpf_get_current_task_btf(), b + cur, KSTACK_BYTES, 0);
			if (r > 0) {
				kstack = cur;
				klen = r;
				flags |= FLAG_KSTACK;
				cur += r & (KSTACK_BYTES * 2 - 1);
			}
		}
	}

	struct hdr *h = (struct hdr *)b;
	h->ts = now;
	h->goid = goid;
	h->g = g;
	h->depth = depth;
	h->duration = duration;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->probe = idx;
	h->flags = flags;
	h->ustack = ustack;
	h->ustack_len = ulen;
	h->nitems = n;
	h->kstack = kstack;
	h->kstack_len = klen;
	__u32 size = cur & (SCRATCH_BYTES - 1);
	if (size < DATA_OFF)
		size = DATA_OFF;
	h->size = size;
	if (bpf_ringbuf_output(&events, b, size, 0) != 0)
		st->lost++;
	return ret;
}

static __always_inline int handle(struct pt_regs *ctx)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 ret = site(ctx, bpf_get_attach_cookie(ctx), now);
	/* The call and its return at one instruction: the return follows,
	 * at the same time, so its latency is 0 and it pairs with this call
	 * (the inflight entry the call just wrote). */
	if (ret)
		site(ctx, ret, now);
	return 0;
}

SEC("uprobe.multi")
int probe_multi(struct pt_regs *ctx) { return handle(ctx); }

SEC("uprobe")
int probe_single(struct pt_regs *ctx) { return handle(ctx); }

/* The bare baseline of scripts/bench-trace: the least a probe can do. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bare_hits SEC(".maps");

SEC("uprobe.multi")
int bare_multi(struct pt_regs *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&bare_hits, &zero);
	if (n)
		(*n)++;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
