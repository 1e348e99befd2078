package portico;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.util.List;

/**
 * Starts mongo-java-server (in-memory backend) on 127.0.0.1 for Portico's tests.
 *
 * <p>Port: the first argument, else $PORTICO_MONGO_PORT, else 0 (any free port). Prints
 * "mongo-java-server ready 127.0.0.1:PORT" on stdout once it accepts connections, and stops when
 * its standard input closes (the parent died or closed the pipe) or on SIGTERM/SIGINT.
 */
public final class Main {
    /**
     * The version the server reports in its handshake. mongo-java-server implements the commands
     * of MongoDB 3.6/4.0 but its newest ServerVersion says wire version 7, and current Go drivers
     * refuse servers below wire version 9 (MongoDB 4.4). Everything Portico uses (CRUD, OP_MSG,
     * find/getMore, aggregate $match/$group/$count, indexes) behaves the same, so the launcher
     * reports 4.4.
     */
    static final MongoVersion REPORTED = new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(4, 4, 0);
        }

        @Override
        public int getWireVersion() {
            return 9;
        }
    };

    public static void main(String[] args) throws Exception {
        int port = 0;
        String p = args.length > 0 ? args[0] : System.getenv("PORTICO_MONGO_PORT");
        if (p != null && !p.isEmpty()) {
            port = Integer.parseInt(p);
        }
        MongoServer server = new MongoServer(new MemoryBackend().version(REPORTED));
        server.bind("127.0.0.1", port);
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow));
        InetSocketAddress addr = server.getLocalAddress();
        System.out.println("mongo-java-server ready 127.0.0.1:" + addr.getPort());
        System.out.flush();

        if (Boolean.parseBoolean(System.getenv().getOrDefault("PORTICO_MONGO_IGNORE_STDIN", "false"))) {
            Thread.currentThread().join(); // until SIGTERM
        }
        InputStream in = System.in;
        byte[] buf = new byte[256];
        try {
            while (in.read(buf) >= 0) {
                // discard: only the end of input matters
            }
        } catch (IOException e) {
            // stdin broken: same as closed
        }
        server.shutdownNow();
        System.exit(0);
    }
}
