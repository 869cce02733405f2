import java.lang.management.ManagementFactory;
import java.util.HashMap;
import java.util.Map;
import javax.management.MBeanServer;
import javax.management.ObjectName;

/**
 * Allocation before a Flight Recorder recording starts, for the allocation weights' test
 * (test/jfr/jfr-alloc-weights.test.ts): two threads allocate for PRE seconds with no recording, then the JVM records
 * itself for REC seconds (JFR.start and JFR.stop through the DiagnosticCommand MBean, as jcmd runs them) while they go
 * on. JDK 16+ weighs an allocation sample by the bytes its thread allocated since its previous sample, so a thread's
 * first sample in the recording carries its whole history: the bytes printed are those allocated by every thread from
 * just after the start to just before the stop, what the recording's weights should add up to (a little more, for
 * the recording's edges). Java 8 source.
 *
 * Usage: java -cp /app AllocBeforeRecording PRE_SECONDS REC_SECONDS SETTINGS.jfc OUT.jfr: prints
 * "allocated-during-recording BYTES" and exits.
 */
public final class AllocBeforeRecording {
  public static void main(String[] args) throws Exception {
    long pre = Long.parseLong(args[0]);
    long rec = Long.parseLong(args[1]);
    for (String name : new String[] {"alloc-a", "alloc-b"}) {
      JfrMix.startDaemon(name, () -> {
        byte[][] kept = new byte[64][];
        for (long i = 0; ; i++) AllocLoop.allocateBuffers(kept, i);
      });
    }
    Thread.sleep(pre * 1000L);
    // Measured inside the recording: JFR.start returns once it records, and its first start in a JVM takes a
    // second or more, whose allocations the recording does not see (its first samples carry them, as history).
    dcmd("jfrStart", "name=alloc-weights", "settings=" + args[2]);
    Map<Long, Long> before = allocatedByThread();
    Thread.sleep(rec * 1000L);
    Map<Long, Long> after = allocatedByThread();
    dcmd("jfrStop", "name=alloc-weights", "filename=" + args[3]);
    long during = 0;
    // A thread started during the recording (the recorder's own) counts from 0; one that ended is lost (none here).
    for (Map.Entry<Long, Long> e : after.entrySet()) {
      Long was = before.get(e.getKey());
      during += e.getValue() - (was == null ? 0 : was);
    }
    System.out.println("allocated-during-recording " + during);
    System.exit(0);
  }

  static Map<Long, Long> allocatedByThread() {
    com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    long[] ids = threads.getAllThreadIds();
    long[] bytes = threads.getThreadAllocatedBytes(ids);
    Map<Long, Long> out = new HashMap<>();
    for (int i = 0; i < ids.length; i++) if (bytes[i] >= 0) out.put(ids[i], bytes[i]);
    return out;
  }

  static void dcmd(String operation, String... arguments) throws Exception {
    MBeanServer server = ManagementFactory.getPlatformMBeanServer();
    server.invoke(
        new ObjectName("com.sun.management:type=DiagnosticCommand"),
        operation,
        new Object[] {arguments},
        new String[] {String[].class.getName()});
  }
}
