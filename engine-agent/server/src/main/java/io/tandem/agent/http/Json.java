package io.tandem.agent.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tandem.agent.errors.BadParameterException;
import io.tandem.agent.errors.SchemaViolationException;
import jakarta.inject.Singleton;
import java.io.UncheckedIOException;
import java.util.stream.Collectors;

/**
 * Reads request bodies and writes SSE payloads with the application's {@link ObjectMapper} (snake_case).
 * Bodies are bound here, not by the framework, so that the two failure kinds get their own status: text that is
 * not JSON is a 400, JSON of the wrong shape (a string where a number belongs) a 422 naming the field, as
 * LMDeploy's FastAPI validation answers.
 */
@Singleton
public final class Json {
    private final ObjectMapper mapper;

    public Json(ObjectMapper mapper) {
        // update_weights carries whole safetensors buckets as one base64 string; the request size limit
        // (micronaut.server.max-request-size) bounds them, not Jackson's 20 MB default for one string.
        mapper.getFactory().setStreamReadConstraints(com.fasterxml.jackson.core.StreamReadConstraints.builder()
                .maxStringLength(Integer.MAX_VALUE).build());
        this.mapper = mapper;
    }

    public ObjectMapper mapper() {
        return mapper;
    }

    public <T> T read(String body, Class<T> type) {
        if (body == null || body.isBlank()) {
            throw new SchemaViolationException("request body: required (a JSON object)", "body");
        }
        try {
            return mapper.readValue(body, type);
        } catch (com.fasterxml.jackson.core.JsonParseException e) {
            throw new BadParameterException("request body is not valid JSON: " + e.getOriginalMessage(), "body");
        } catch (JsonMappingException e) {
            String field = e.getPath().stream()
                    .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                    .collect(Collectors.joining("."));
            throw new SchemaViolationException(
                    (field.isEmpty() ? "body" : field) + ": " + e.getOriginalMessage(), field.isEmpty() ? "body" : field);
        } catch (JsonProcessingException e) {
            throw new BadParameterException("request body is not valid JSON: " + e.getOriginalMessage(), "body");
        }
    }

    public String write(Object value) {
        try {
            return mapper.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
