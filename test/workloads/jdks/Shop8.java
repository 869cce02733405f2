import java.io.File;
import java.util.Random;

/**
 * podflame's test app for every JDK from 8 on: Java 8 source, compiled once with `--release 8`, so the same class
 * files run on JDK 8, 11, 17, 21 and 25 (test/workloads/jdks/Dockerfile). Its CPU goes to four hot methods that the
 * JIT compiles as methods of their own (each is recursive, so however much C2 inlines, most time is spent in the
 * method's own compiled code): forecastDemand, sortPrices, planShelves and shuffleBundles, one thread each; and to
 * Pricing.total, small and inlined by C2 into the checkout lambda (lambda$startCheckout$0), so only a profiler that
 * expands inlined frames names it.
 *
 * Usage: java -cp /app Shop8 [SECONDS] [--exit-file=PATH]: prints "Shop8: started" once the threads run; exits
 * (status 0) after SECONDS when given, or as soon as PATH exists (checked every 50 ms), so a test can end it by an
 * event (`touch PATH` in the container) rather than a timer. Without either it runs until killed.
 */
public final class Shop8 {
  private static final String EXIT_FILE_FLAG = "--exit-file=";
  private static final int TAX_PERMILLE = 190;

  // Results go here so the JIT cannot drop the work as dead code.
  private static volatile long sink;

  public static void main(String[] args) throws Exception {
    long seconds = 0;
    File exitFile = null;
    for (String arg : args) {
      if (arg.startsWith(EXIT_FILE_FLAG)) exitFile = new File(arg.substring(EXIT_FILE_FLAG.length()));
      else seconds = Long.parseLong(arg);
    }
    startDaemon("shop-forecast", Shop8::forecastWorker);
    startDaemon("shop-sort", Shop8::sortWorker);
    startDaemon("shop-shelves", Shop8::shelvesWorker);
    startDaemon("shop-bundles", Shop8::bundlesWorker);
    startCheckout();
    System.out.println("Shop8: started (java.version " + System.getProperty("java.version") + ")");
    long deadline = System.nanoTime() + seconds * 1_000_000_000L;
    for (;;) {
      if (exitFile != null && exitFile.exists()) {
        System.out.println("Shop8: exiting, " + exitFile + " appeared");
        System.exit(0);
      }
      if (seconds > 0 && System.nanoTime() - deadline >= 0) {
        System.out.println("Shop8: exiting after " + seconds + " s");
        System.exit(0);
      }
      Thread.sleep(50);
    }
  }

  private static void startDaemon(String name, Runnable body) {
    Thread thread = new Thread(body, name);
    thread.setDaemon(true);
    thread.start();
  }

  // A lambda on purpose (the only one in this class, hence its name lambda$startCheckout$0): it runs once and loops,
  // so C2 compiles the lambda's body itself (on-stack replacement) with Pricing.total inlined into it.
  private static void startCheckout() {
    Random random = new Random(8);
    final int[] quantities = new int[4096];
    final long[] unitCents = new long[quantities.length];
    for (int i = 0; i < quantities.length; i++) {
      quantities[i] = 1 + random.nextInt(20);
      unitCents[i] = 50 + random.nextInt(100_000);
    }
    startDaemon("shop-checkout", () -> {
      long revenue = 0;
      while (true) {
        for (int i = 0; i < quantities.length; i++) revenue += Pricing.total(quantities[i], unitCents[i], TAX_PERMILLE);
        sink = revenue;
      }
    });
  }

  private static void forecastWorker() {
    while (true) sink += forecastDemand(25);
  }

  static long forecastDemand(int weeks) {
    return weeks < 2 ? weeks : forecastDemand(weeks - 1) + forecastDemand(weeks - 2);
  }

  private static void sortWorker() {
    Random random = new Random(17);
    long[] catalog = new long[20_000];
    for (int i = 0; i < catalog.length; i++) catalog[i] = random.nextInt(1_000_000);
    long[] prices = new long[catalog.length];
    while (true) {
      System.arraycopy(catalog, 0, prices, 0, catalog.length);
      sortPrices(prices, 0, prices.length - 1);
      sink += prices[prices.length / 2];
    }
  }

  // Quicksort: recursion depth stays near 2 log2(n), well inside perf's 127-frame stack limit.
  static void sortPrices(long[] prices, int lo, int hi) {
    if (lo >= hi) return;
    long pivot = prices[(lo + hi) >>> 1];
    int i = lo;
    int j = hi;
    while (i <= j) {
      while (prices[i] < pivot) i++;
      while (prices[j] > pivot) j--;
      if (i <= j) {
        long swap = prices[i];
        prices[i++] = prices[j];
        prices[j--] = swap;
      }
    }
    sortPrices(prices, lo, j);
    sortPrices(prices, i, hi);
  }

  private static void shelvesWorker() {
    while (true) sink += planShelves(10, 0, 0, 0, 0);
  }

  // The n-queens count with bit masks: ways to put n displays on an n-by-n shelf grid, none in line with another.
  static int planShelves(int n, int row, int columns, int diagonals, int antiDiagonals) {
    if (row == n) return 1;
    int ways = 0;
    int free = ~(columns | diagonals | antiDiagonals) & ((1 << n) - 1);
    while (free != 0) {
      int bit = free & -free;
      free -= bit;
      ways += planShelves(n, row + 1, columns | bit, (diagonals | bit) << 1, (antiDiagonals | bit) >> 1);
    }
    return ways;
  }

  private static void bundlesWorker() {
    int[] items = {3, 1, 4, 1, 5, 9, 2, 6, 5};
    while (true) sink += shuffleBundles(items, 0);
  }

  // Every ordering of the items (9! of them), each hashed: permutations by swapping in place.
  static long shuffleBundles(int[] items, int from) {
    if (from == items.length) {
      long hash = 0;
      for (int item : items) hash = hash * 31 + item;
      return hash;
    }
    long sum = 0;
    for (int i = from; i < items.length; i++) {
      int swap = items[from];
      items[from] = items[i];
      items[i] = swap;
      sum += shuffleBundles(items, from + 1);
      items[i] = items[from];
      items[from] = swap;
    }
    return sum;
  }
}
