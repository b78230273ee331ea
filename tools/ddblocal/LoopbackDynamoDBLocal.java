// LoopbackDynamoDBLocal starts DynamoDB Local bound to 127.0.0.1 only.
//
// DynamoDB Local has no bind-address option: `java -jar DynamoDBLocal.jar` listens
// on every interface. This launcher does what ServerRunner.main() does (parse the
// same command line, build the DynamoDBProxyServer, configure telemetry, start),
// but before starting it sets the host of every Jetty connector to the loopback
// address.
//
// It uses reflection only, so it compiles without the jar on the classpath:
//
//   javac -d out tools/ddblocal/LoopbackDynamoDBLocal.java
//   cd <dir with DynamoDBLocal.jar>
//   java -Djava.library.path=./DynamoDBLocal_lib -cp out:DynamoDBLocal.jar \
//        LoopbackDynamoDBLocal -inMemory -sharedDb -port 8000 -disableTelemetry
//
// Supported class layouts:
//   DynamoDB Local 3.x  software.amazon.dynamodb.services.local.{main,server}.*
//   DynamoDB Local 1.x  com.amazonaws.services.dynamodbv2.local.{main,server}.*
//
// The host defaults to 127.0.0.1 and can be changed with -Dddblocal.host=...
// If the server does not end up started (e.g. the port is taken), the process
// exits with status 1 instead of exiting 0 as ServerRunner does.
//
// This file is our own code. The jar itself is never committed (see scripts/emu.sh).

import java.io.File;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;

public final class LoopbackDynamoDBLocal {
    private static final String[] PACKAGES = {
        "software.amazon.dynamodb.services.local", // 3.x
        "com.amazonaws.services.dynamodbv2.local", // 1.x / 2.x
    };
    private static final String JETTY_SERVER = "org.eclipse.jetty.server.Server";

    private LoopbackDynamoDBLocal() {}

    public static void main(String[] args) throws Exception {
        String host = System.getProperty("ddblocal.host", "127.0.0.1");

        String pkg = null;
        Class<?> runner = null;
        for (String p : PACKAGES) {
            try {
                runner = Class.forName(p + ".main.ServerRunner");
                pkg = p;
                break;
            } catch (ClassNotFoundException ignored) {
                // try the next layout
            }
        }
        if (runner == null) {
            fail("no DynamoDB Local ServerRunner class found on the classpath "
                    + "(is DynamoDBLocal.jar on -cp?)");
        }
        Class<?> cliClass = Class.forName(pkg + ".main.CommandLineInput");

        // Same as main(): parse; init() returns false for -help / -version.
        Object cli = cliClass.getConstructor(String[].class).newInstance((Object) args);
        if (!(Boolean) cliClass.getMethod("init").invoke(cli)) {
            return;
        }

        Object proxy;
        try {
            proxy = runner.getMethod("createServerFromCommandLineArgs", String[].class)
                    .invoke(null, (Object) args);
        } catch (InvocationTargetException e) {
            fail("could not create DynamoDB Local server: " + e.getCause());
            return;
        }

        configureTelemetry(pkg, runner, cliClass, cli);

        Object jetty = findJettyServer(proxy);
        int bound = 0;
        for (Object connector : (Object[]) jetty.getClass().getMethod("getConnectors").invoke(jetty)) {
            Method setHost;
            try {
                setHost = connector.getClass().getMethod("setHost", String.class);
            } catch (NoSuchMethodException e) {
                continue; // not a network connector
            }
            setHost.invoke(connector, host);
            bound++;
        }
        if (bound == 0) {
            fail("Jetty server has no network connector to bind to " + host);
        }

        try {
            proxy.getClass().getMethod("start").invoke(proxy);
        } catch (InvocationTargetException e) {
            fail("DynamoDB Local failed to start: " + e.getCause());
        }
        if (!(Boolean) jetty.getClass().getMethod("isStarted").invoke(jetty)) {
            fail("DynamoDB Local did not start (port in use?)");
        }
        System.out.println("LoopbackDynamoDBLocal: listening on " + host);
        // Jetty's non-daemon threads keep the JVM alive, exactly as with ServerRunner.
    }

    // Mirrors the telemetry setup in ServerRunner.main(). Best effort: with
    // -disableTelemetry it only records that telemetry is off.
    private static void configureTelemetry(String pkg, Class<?> runner, Class<?> cliClass, Object cli) {
        try {
            Class<?> util = Class.forName(pkg + ".monitoring.TelemetryUtil");
            Class<?> tel = Class.forName(pkg + ".monitoring.Telemetry");
            Object setupType = util.getMethod("getSetupType", File.class, File.class)
                    .invoke(null, new File("/.dockerenv"), new File("pom.xml"));
            Object setupMode = runner.getMethod("getSetupMode", cliClass).invoke(null, cli);
            boolean disabled = (Boolean) cliClass.getMethod("isDisableTelemetry").invoke(cli);
            Object enabled = util.getMethod("isTelemetryEnabled", boolean.class).invoke(null, disabled);
            tel.getMethod("configureTelemetry", String.class, String.class, boolean.class)
                    .invoke(null, setupType, setupMode, enabled);
        } catch (ReflectiveOperationException | RuntimeException | LinkageError ignored) {
            // Older versions have no telemetry; nothing to configure.
        }
    }

    private static Object findJettyServer(Object proxy) throws IllegalAccessException {
        for (Class<?> c = proxy.getClass(); c != null; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (f.getType().getName().equals(JETTY_SERVER)) {
                    f.setAccessible(true);
                    Object v = f.get(proxy);
                    if (v != null) {
                        return v;
                    }
                }
            }
        }
        fail("no " + JETTY_SERVER + " field in " + proxy.getClass().getName());
        return null;
    }

    private static void fail(String msg) {
        System.err.println("LoopbackDynamoDBLocal: " + msg);
        System.exit(1);
    }
}
