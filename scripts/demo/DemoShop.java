import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * podflame's demo application: a pretend shop whose worker threads serve requests in a loop, spending their CPU
 * in three recognisable places, so the demo's flame graph has something to show: pricing baskets with BigDecimal
 * (priceBasket), searching the catalog (searchCatalog) and rendering invoices (renderInvoice).
 */
public final class DemoShop {
  private static final String[] WORDS = {
    "espresso", "grinder", "kettle", "filter", "beans", "roast", "mug", "scale", "tamper", "carafe",
  };
  private static final List<String> CATALOG = new ArrayList<>();
  private static volatile long sink;

  public static void main(String[] args) throws Exception {
    Random random = new Random(42);
    for (int i = 0; i < 20_000; i++) {
      CATALOG.add(WORDS[random.nextInt(WORDS.length)] + "-" + WORDS[random.nextInt(WORDS.length)] + "-" + i);
    }
    int workers = args.length > 0 ? Integer.parseInt(args[0]) : 2;
    for (int i = 0; i < workers; i++) {
      long seed = i;
      Thread worker = new Thread(() -> serveRequests(seed), "shop-worker-" + i);
      worker.setDaemon(true);
      worker.start();
    }
    System.out.println("DemoShop: started with " + workers + " workers");
    Thread.currentThread().join();
  }

  private static void serveRequests(long seed) {
    Random random = new Random(seed);
    while (true) {
      int kind = random.nextInt(10);
      if (kind < 5) {
        sink += priceBasket(random).longValue();
      } else if (kind < 8) {
        sink += searchCatalog(WORDS[random.nextInt(WORDS.length)]);
      } else {
        sink += renderInvoice(random).length();
      }
    }
  }

  static BigDecimal priceBasket(Random random) {
    BigDecimal total = BigDecimal.ZERO;
    for (int line = 0; line < 200; line++) {
      BigDecimal price = BigDecimal.valueOf(random.nextInt(100_000), 2);
      BigDecimal quantity = BigDecimal.valueOf(1 + random.nextInt(5));
      BigDecimal discount = BigDecimal.ONE.subtract(BigDecimal.valueOf(random.nextInt(30), 2));
      total = total.add(price.multiply(quantity).multiply(discount)).setScale(2, RoundingMode.HALF_EVEN);
    }
    return total.multiply(new BigDecimal("1.19")).setScale(2, RoundingMode.HALF_EVEN);
  }

  static int searchCatalog(String word) {
    int hits = 0;
    for (String item : CATALOG) {
      if (item.contains(word) && item.endsWith("7")) hits++;
    }
    return hits;
  }

  static String renderInvoice(Random random) {
    StringBuilder invoice = new StringBuilder();
    for (int line = 0; line < 300; line++) {
      invoice.append(String.format("%-20s %5d x %10.2f%n", WORDS[line % WORDS.length], 1 + random.nextInt(9),
          random.nextDouble() * 100));
    }
    return invoice.toString();
  }
}
