package portico;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.parser.IParser;
import ca.uhn.fhir.parser.LenientErrorHandler;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.PrePopulatedValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.UnknownCodeSystemWarningValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;
import org.hl7.fhir.instance.model.api.IBaseResource;

/**
 * Validates FHIR R4 JSON resources with HAPI FHIR's FhirInstanceValidator (the official
 * validator's engine) and the R4 definitions, offline: no terminology server is asked, and a
 * code of a code system it does not hold (LOINC, SNOMED CT) or a profile it cannot fetch is a
 * warning, not an error.
 *
 * <pre>
 * java -jar fhir-validator.jar [--package DIR]... [FILE|DIR]...
 * </pre>
 *
 * <p>Each FILE (or each *.json in a DIR) is one resource. Without FILE arguments, standard input
 * is read as NDJSON: one resource per line, named "stdin:N" (N from 1). One JSON object per
 * resource is printed on standard output, one a line, in input order:
 * {"name":..., "issues":[{"severity":"error","location":..., "line":N, "col":N,
 * "messageId":..., "message":...}]}. Severities are fatal, error, warning and information.
 *
 * <p>--package DIR loads the definitions (StructureDefinition, CodeSystem, ValueSet and any other
 * conformance resource) of an NPM-style FHIR package folder: every *.json in DIR and DIR/package
 * but package.json and the index (.index.json); one that is not a resource stops the run. A DIR that does not exist is skipped with a note on standard error, so
 * callers can name a package folder before it is written.
 *
 * <p>Three errors that say nothing about the resource are lowered to warnings, and the original
 * severity is printed as "hapiSeverity": a terminology message passed through as an error where
 * the binding is only preferred or extensible (see bindingVerdicts); HAPI's second message for a
 * meta.profile it cannot fetch offline, an error beside the core validator's warning; and the
 * failure to regenerate a StructureDefinition's snapshot for want of the R4 core's package id in
 * HAPI's in-memory context, which the specification's own extension definitions get too.
 *
 * <p>Exit status: 0 when no resource has an error or fatal issue, 1 when one has, 2 when the
 * input could not be read.
 */
public final class Validate {
    private Validate() {}

    public static void main(String[] args) throws IOException {
        List<Path> packages = new ArrayList<>();
        List<Path> inputs = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--package") && i + 1 < args.length) {
                packages.add(Path.of(args[++i]));
            } else if (a.startsWith("--package=")) {
                packages.add(Path.of(a.substring("--package=".length())));
            } else if (a.equals("-h") || a.equals("--help")) {
                System.out.println("usage: fhir-validator [--package DIR]... [FILE|DIR]... (no FILE: NDJSON on stdin)");
                return;
            } else if (a.startsWith("-") && !a.equals("-")) {
                System.err.println("fhir-validator: unknown flag " + a);
                System.exit(2);
            } else {
                inputs.add(Path.of(a));
            }
        }

        FhirContext ctx = FhirContext.forR4Cached();
        // The validator reads resources leniently (unknown elements are its findings, not a
        // parser's exception).
        ctx.setParserErrorHandler(new LenientErrorHandler(false));
        FhirValidator validator = newValidator(ctx, packages);

        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        boolean anyError = false;
        try {
            if (inputs.isEmpty() || (inputs.size() == 1 && inputs.get(0).toString().equals("-"))) {
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                String line;
                int n = 0;
                while ((line = in.readLine()) != null) {
                    n++;
                    if (line.isBlank()) {
                        continue;
                    }
                    anyError |= validate(validator, "stdin:" + n, line, out);
                    out.flush(); // a caller streaming its input reads each answer at once
                }
            } else {
                for (Path p : expand(inputs)) {
                    anyError |= validate(validator, p.toString(), Files.readString(p, StandardCharsets.UTF_8), out);
                }
            }
        } catch (IOException e) {
            out.flush();
            System.err.println("fhir-validator: " + e.getMessage());
            System.exit(2);
        }
        out.flush();
        System.exit(anyError ? 1 : 0);
    }

    /**
     * The validator: the R4 core definitions, the terminologies HAPI holds in memory (the FHIR
     * code systems, UCUM, the languages, currencies, MIME types...), snapshots generated for
     * definitions given without one, and the packages' definitions. Code systems held nowhere
     * (LOINC, SNOMED CT, an example's or an organization's own) get a warning.
     */
    static FhirValidator newValidator(FhirContext ctx, List<Path> packages) throws IOException {
        ValidationSupportChain chain = new ValidationSupportChain();
        chain.addValidationSupport(new DefaultProfileValidationSupport(ctx));
        PrePopulatedValidationSupport own = loadPackages(ctx, packages);
        if (own != null) {
            chain.addValidationSupport(own);
        }
        chain.addValidationSupport(new CommonCodeSystemsTerminologyService(ctx));
        chain.addValidationSupport(new InMemoryTerminologyServerValidationSupport(ctx));
        chain.addValidationSupport(new SnapshotGeneratingValidationSupport(ctx));
        UnknownCodeSystemWarningValidationSupport unknown = new UnknownCodeSystemWarningValidationSupport(ctx);
        unknown.setNonExistentCodeSystemSeverity(IValidationSupport.IssueSeverity.WARNING);
        chain.addValidationSupport(unknown);

        FhirInstanceValidator module = new FhirInstanceValidator(chain);
        // Offline, a profile named in meta.profile that no package holds (US Core, an IG's) cannot
        // be fetched: like an unknown code system, a warning. Profiles that are loaded are checked.
        module.setErrorForUnknownProfiles(false);
        FhirValidator validator = ctx.newValidator();
        validator.registerValidatorModule(module);
        return validator;
    }

    /** The conformance resources of the package folders, or null when none has any. */
    static PrePopulatedValidationSupport loadPackages(FhirContext ctx, List<Path> packages) throws IOException {
        PrePopulatedValidationSupport support = new PrePopulatedValidationSupport(ctx);
        IParser parser = ctx.newJsonParser();
        int loaded = 0;
        for (Path dir : packages) {
            if (!Files.isDirectory(dir)) {
                System.err.println("fhir-validator: no package folder " + dir + ": its definitions are not loaded");
                continue;
            }
            List<Path> files = new ArrayList<>(jsonFiles(dir));
            if (Files.isDirectory(dir.resolve("package"))) {
                files.addAll(jsonFiles(dir.resolve("package")));
            }
            for (Path f : files) {
                String name = f.getFileName().toString();
                if (name.startsWith(".") || name.equals("package.json")) {
                    continue; // the package's manifest and index (.index.json), not resources
                }
                String text = Files.readString(f, StandardCharsets.UTF_8);
                IBaseResource r;
                try {
                    r = parser.parseResource(text);
                } catch (RuntimeException e) {
                    throw new IOException(f + ": " + e.getMessage(), e);
                }
                support.addResource(r);
                loaded++;
            }
            System.err.println("fhir-validator: " + loaded + " definitions loaded from " + dir);
        }
        return loaded == 0 ? null : support;
    }

    static List<Path> jsonFiles(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".json") && Files.isRegularFile(p))
                    .sorted()
                    .toList();
        }
    }

    static List<Path> expand(List<Path> inputs) throws IOException {
        List<Path> files = new ArrayList<>();
        for (Path p : inputs) {
            if (Files.isDirectory(p)) {
                files.addAll(jsonFiles(p));
            } else {
                files.add(p);
            }
        }
        return files;
    }

    /** Validates one resource, prints its line, and says whether it has an error. */
    static boolean validate(FhirValidator validator, String name, String json, PrintStream out) {
        StringBuilder b = new StringBuilder();
        b.append("{\"name\":").append(quote(name)).append(",\"issues\":[");
        boolean anyError = false;
        List<SingleValidationMessage> messages;
        try {
            ValidationResult result = validator.validateWithResult(json);
            messages = result.getMessages();
        } catch (RuntimeException e) {
            // A resource the validator cannot even read is one fatal issue, not the end of the run.
            SingleValidationMessage m = new SingleValidationMessage();
            m.setSeverity(ca.uhn.fhir.validation.ResultSeverityEnum.FATAL);
            m.setMessage(e.getClass().getSimpleName() + ": " + e.getMessage());
            messages = List.of(m);
        }
        Map<String, String> bindingVerdicts = bindingVerdicts(messages);
        String sep = "";
        for (SingleValidationMessage m : messages) {
            String severity = m.getSeverity() == null ? "error" : m.getSeverity().getCode();
            String hapiSeverity = null;
            String verdict = bindingVerdicts.get(m.getLocationString());
            if (PASS_THROUGH.equals(m.getMessageId()) && verdict != null && rank(verdict) < rank(severity)) {
                hapiSeverity = severity;
                severity = verdict;
            } else if (SNAPSHOT_ERROR.equals(m.getMessageId()) && rank(severity) > rank("warning")
                    && m.getMessage() != null && m.getMessage().contains(NO_CORE_PACKAGE)) {
                // Validating a StructureDefinition, the core validator regenerates its snapshot to
                // compare, and in HAPI's in-memory context that fails for want of a package id
                // of the R4 core: the specification's own extensions (patient-birthTime) get the
                // same error. The definitions are still applied to the resources using them.
                hapiSeverity = severity;
                severity = "warning";
            } else if (PROFILE_UNKNOWN.equals(m.getMessageId()) && rank(severity) > rank("warning")) {
                // HAPI's wrapper adds its own error for a meta.profile it cannot fetch, beside
                // the core validator's message, which follows setErrorForUnknownProfiles(false).
                hapiSeverity = severity;
                severity = "warning";
            }
            if (severity.equals("error") || severity.equals("fatal")) {
                anyError = true;
            }
            b.append(sep).append("{\"severity\":").append(quote(severity));
            b.append(",\"location\":").append(quote(m.getLocationString()));
            if (m.getLocationLine() != null) {
                b.append(",\"line\":").append(m.getLocationLine());
            }
            if (m.getLocationCol() != null) {
                b.append(",\"col\":").append(m.getLocationCol());
            }
            b.append(",\"messageId\":").append(quote(m.getMessageId()));
            b.append(",\"message\":").append(quote(m.getMessage()));
            if (hapiSeverity != null) {
                b.append(",\"hapiSeverity\":").append(quote(hapiSeverity));
            }
            b.append('}');
            sep = ",";
        }
        b.append("]}");
        out.println(b);
        return anyError;
    }

    static final String PASS_THROUGH = "Terminology_PassThrough_TX_Message";
    static final String PROFILE_UNKNOWN = "Validation_VAL_Profile_Unknown";
    static final String SNAPSHOT_ERROR = "ERROR_GENERATING_SNAPSHOT";
    static final String NO_CORE_PACKAGE = "Unable to resolve package id hl7.fhir.r4.core#null";

    /**
     * The validator's own verdict on each binding it checked, by location: the severity of its
     * Terminology_TX_* messages, which weigh the binding's strength (information for a preferred
     * binding, a warning for an extensible one, an error for a required one).
     *
     * <p>HAPI also passes the terminology service's raw message through
     * (Terminology_PassThrough_TX_Message), and its in-memory service says "error" whatever the
     * binding's strength (hapi-fhir issue 7959, "CommonCodeSystemsTerminologyService does not
     * consider binding strengths"): Vietnamese ("vi") in a translation's lang, a preferred
     * binding to the common languages, came out as an error. A pass-through message is given the
     * severity of the validator's verdict at its location when that is lower; required bindings
     * keep their error, and the original severity is printed as hapiSeverity.
     */
    static Map<String, String> bindingVerdicts(List<SingleValidationMessage> messages) {
        Map<String, String> verdicts = new HashMap<>();
        for (SingleValidationMessage m : messages) {
            String id = m.getMessageId();
            if (id == null || !id.startsWith("Terminology_TX_") || m.getSeverity() == null) {
                continue;
            }
            String severity = m.getSeverity().getCode();
            verdicts.merge(m.getLocationString(), severity, (a, b) -> rank(a) >= rank(b) ? a : b);
        }
        return verdicts;
    }

    static int rank(String severity) {
        return switch (severity) {
            case "fatal" -> 3;
            case "error" -> 2;
            case "warning" -> 1;
            default -> 0;
        };
    }

    /** A JSON string literal of s ("" for null). */
    static String quote(String s) {
        if (s == null) {
            return "\"\"";
        }
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
