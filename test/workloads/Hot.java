/**
 * podflame's test workload: a busy JVM whose CPU goes to a few recognisable methods, so a test can check that the
 * flame graph names them. Usage: java Hot [SECONDS]: runs forever without an argument, or exits after SECONDS
 * (to test a target that exits mid-capture).
 */
public final class Hot {
  private static volatile long sink;

  public static void main(String[] args) throws Exception {
    long seconds = args.length > 0 ? Long.parseLong(args[0]) : 0;
    Thread fib = new Thread(Hot::fibonacciWorker, "hot-fibonacci");
    Thread sieve = new Thread(Hot::sieveWorker, "hot-sieve");
    fib.setDaemon(true);
    sieve.setDaemon(true);
    fib.start();
    sieve.start();
    System.out.println("Hot: started");
    if (seconds > 0) {
      Thread.sleep(seconds * 1000);
      System.out.println("Hot: exiting after " + seconds + " s");
      System.exit(0);
    }
    fib.join();
  }

  private static void fibonacciWorker() {
    while (true) sink += hotFibonacci(27);
  }

  // Recursive, so the JIT compiles it as a method of its own however much it inlines.
  static long hotFibonacci(int n) {
    return n < 2 ? n : hotFibonacci(n - 1) + hotFibonacci(n - 2);
  }

  private static void sieveWorker() {
    while (true) sink += hotSieve(200_000);
  }

  static int hotSieve(int limit) {
    boolean[] composite = new boolean[limit + 1];
    int primes = 0;
    for (int i = 2; i <= limit; i++) {
      if (composite[i]) continue;
      primes++;
      for (long j = (long) i * i; j <= limit; j += i) composite[(int) j] = true;
    }
    return primes;
  }
}
