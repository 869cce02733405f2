/**
 * Folded stacks of a made-up but realistically shaped Java service, for seeding a store: request threads through a
 * servlet container and a framework into application services, down to the JDK, JDBC, JSON and logging; GC and
 * compiler threads in the JVM; frames named as the collapser names them (`pkg/Class.method_[j]`, `[libjvm.so]`,
 * `Interpreter_[j]`, `do_syscall_64_[k]`). Stacks share prefixes as real ones do, so that 3,000 of them make a
 * profile of about 1.2 MB of folded text (as the issue measured).
 *
 * A week's profiles draw from one pool of stacks, hot ones more often (Zipf), and the pool drifts: every hour some
 * stacks appear that were not seen before (new lambdas, recompiled methods), so profiles overlap without being equal.
 */

/** Seeded PRNG (mulberry32): the same seed gives the same week. */
export function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const THREAD_ROOTS = [
  'java;start_thread;thread_native_entry;JavaThread::thread_main_inner;JavaCalls::call_helper;java/lang/Thread.run_[j]',
  'java;start_thread;thread_native_entry;JavaThread::thread_main_inner;JavaCalls::call_helper;java/lang/Thread.run_[j];java/util/concurrent/ThreadPoolExecutor.runWorker_[j]',
];
const JVM_THREADS = [
  'GC Thread#0;start_thread;thread_native_entry;Thread::call_run;[libjvm.so];GangWorker::loop;G1EvacuateRegionsTask::work',
  'GC Thread#1;start_thread;thread_native_entry;Thread::call_run;[libjvm.so];GangWorker::loop;G1EvacuateRegionsTask::work',
  'C2 CompilerThre;start_thread;thread_native_entry;Thread::call_run;JavaThread::thread_main_inner;CompileBroker::compiler_thread_loop;CompileBroker::invoke_compiler_on_method;C2Compiler::compile_method;Compile::Compile',
  'VM Thread;start_thread;thread_native_entry;Thread::call_run;VMThread::run;VMThread::inner_execute;SafepointSynchronize::begin',
];
const LAYERS: readonly (readonly string[])[] = [
  [
    'org/eclipse/jetty/util/thread/QueuedThreadPool$Runner.run_[j]',
    'org/eclipse/jetty/io/ChannelEndPoint$1.run_[j]',
    'io/netty/util/concurrent/SingleThreadEventExecutor$4.run_[j]',
  ],
  [
    'org/eclipse/jetty/server/HttpChannel.handle_[j]',
    'org/eclipse/jetty/server/handler/HandlerWrapper.handle_[j]',
    'io/netty/channel/AbstractChannelHandlerContext.invokeChannelRead_[j]',
  ],
  [
    'org/springframework/web/servlet/DispatcherServlet.doDispatch_[j]',
    'org/springframework/web/filter/OncePerRequestFilter.doFilter_[j]',
    'org/springframework/web/method/support/InvocableHandlerMethod.invokeForRequest_[j]',
  ],
  [
    'com/example/shop/web/CatalogController.search_[j]',
    'com/example/shop/web/CartController.addItem_[j]',
    'com/example/shop/web/CheckoutController.checkout_[j]',
    'com/example/shop/web/AccountController.profile_[j]',
    'com/example/shop/web/InvoiceController.render_[j]',
  ],
  [
    'com/example/shop/catalog/CatalogService.search_[j]',
    'com/example/shop/catalog/PriceService.priceFor_[j]',
    'com/example/shop/cart/CartService.recalculate_[j]',
    'com/example/shop/billing/InvoiceRenderer.render_[j]',
    'com/example/shop/account/AccountService.load_[j]',
    'com/example/shop/search/Ranking.score_[j]',
  ],
  [
    'com/example/shop/catalog/ProductRepository.findByQuery_[j]',
    'com/fasterxml/jackson/databind/ObjectMapper.writeValueAsString_[j]',
    'com/example/shop/search/Tokenizer.tokenize_[j]',
    'org/hibernate/internal/SessionImpl.list_[j]',
    'com/example/shop/billing/TaxTable.lookup_[j]',
    'org/slf4j/impl/Log4jLoggerAdapter.info_[j]',
  ],
];
const LEAVES = [
  'java/util/HashMap.getNode_[j]',
  'java/util/HashMap.putVal_[j]',
  'java/lang/String.hashCode_[j]',
  'java/lang/StringLatin1.indexOf_[j]',
  'java/util/ArrayList.grow_[j]',
  'java/util/regex/Pattern$Start.match_[j]',
  'java/math/BigDecimal.multiply_[j]',
  'com/fasterxml/jackson/core/json/UTF8JsonGenerator.writeString_[j]',
  'org/postgresql/core/v3/QueryExecutorImpl.processResults_[j]',
  'java/net/SocketInputStream.socketRead0_[j];Java_java_net_SocketInputStream_socketRead0;NET_Read;__libc_recv;entry_SYSCALL_64_after_hwframe_[k];do_syscall_64_[k];__x64_sys_recvfrom_[k]',
  'Interpreter_[j]',
  'java/lang/Object.hashCode_[j];JVM_IHashCode;ObjectSynchronizer::FastHashCode',
  'OptoRuntime::new_array_C;TypeArrayKlass::allocate_common;MemAllocator::allocate;[libjvm.so]',
];

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

/** One stack: a thread root, a path through the layers (some skipped, some repeated as recursion), a leaf. */
function makeStack(random: () => number): string {
  if (random() < 0.08) return `${pick(random, JVM_THREADS)};${pick(random, LEAVES.slice(-2))}`;
  const frames = [pick(random, THREAD_ROOTS)];
  for (const layer of LAYERS) {
    if (random() < 0.4) continue;
    frames.push(pick(random, layer));
    if (random() < 0.05) frames.push(pick(random, layer));
  }
  frames.push(pick(random, LEAVES));
  return frames.join(';');
}

export interface StackPool {
  /** Distinct stacks seen so far, hottest (lowest index) first. */
  stacks: string[];
  /** Adds `n` stacks never seen before, made unique by a lambda or a recompiled method in `tag`. */
  drift(n: number, tag: string): void;
}

export function stackPool(size: number, random: () => number): StackPool {
  const seen = new Set<string>();
  const stacks: string[] = [];
  while (stacks.length < size) {
    const s = makeStack(random);
    if (!seen.has(s)) {
      seen.add(s);
      stacks.push(s);
    }
  }
  return {
    stacks,
    drift(n, tag) {
      for (let i = 0; i < n; i++) {
        const s = `${makeStack(random)};com/example/shop/Generated$$Lambda$${tag}_${i}/0x0000000800c${(i * 7919) % 100000}.apply_[j]`;
        // New stacks enter among the warm ones, not at the very top.
        stacks.splice(200 + Math.floor(random() * (stacks.length - 200)), 0, s);
      }
    },
  };
}

/** A profile: `distinct` stacks drawn from the pool, Zipf-weighted towards its hot end, counts falling off too. */
export function profileStacks(pool: StackPool, distinct: number, random: () => number): Map<string, number> {
  const out = new Map<string, number>();
  const n = pool.stacks.length;
  while (out.size < distinct) {
    // Inverse-CDF of a power law over ranks: most draws among the first few hundred stacks, a long tail after.
    const rank = Math.min(n - 1, Math.floor(n * random() ** 2.2));
    const stack = pool.stacks[rank] as string;
    if (!out.has(stack)) out.set(stack, 1 + Math.floor((400 / (1 + rank / 10) ** 0.9) * random()));
  }
  return out;
}
