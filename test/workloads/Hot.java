import java.io.File;

/**
 * podflame's test workload: a busy JVM whose CPU goes to a few recognisable methods, so a test can check that the
 * flame graph names them. Usage: java Hot [SECONDS] [--exit-file=PATH]: prints "Hot: started" once its threads run;
 * exits (status 0) after SECONDS when given, or as soon as PATH exists (checked every 50 ms), so a test can end it
 * by an event (`touch PATH` in the container, once the capture records) rather than a timer; without either it runs
 * until killed.
 */
public final class Hot {
  private static final String EXIT_FILE_FLAG = "--exit-file=";
  private static volatile long sink;

  public static void main(String[] args) throws Exception {
    long seconds = 0;
    File exitFile = null;
    for (String arg : args) {
      if (arg.startsWith(EXIT_FILE_FLAG)) exitFile = new File(arg.substring(EXIT_FILE_FLAG.length()));
      else seconds = Long.parseLong(arg);
    }
    Thread fib = new Thread(Hot::fibonacciWorker, "hot-fibonacci");
    Thread sieve = new Thread(Hot::sieveWorker, "hot-sieve");
    fib.setDaemon(true);
    sieve.setDaemon(true);
    fib.start();
    sieve.start();
    System.out.println("Hot: started");
    if (exitFile == null && seconds == 0) {
      fib.join();
      return;
    }
    long deadline = System.nanoTime() + seconds * 1_000_000_000L;
    for (;;) {
      if (exitFile != null && exitFile.exists()) {
        System.out.println("Hot: exiting, " + exitFile + " appeared");
        System.exit(0);
      }
      if (seconds > 0 && System.nanoTime() - deadline >= 0) {
        System.out.println("Hot: exiting after " + seconds + " s");
        System.exit(0);
      }
      Thread.sleep(50);
    }
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
