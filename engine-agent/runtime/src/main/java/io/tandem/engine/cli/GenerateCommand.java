package io.tandem.engine.cli;

import io.tandem.engine.generator.ModelGenerator;
import io.tandem.engine.model.LoadedModel;
import io.tandem.engine.model.ModelConfig;
import io.tandem.engine.sampling.SamplingParams;
import io.tandem.engine.scheduler.Engine;
import io.tandem.engine.scheduler.EngineConfig;
import io.tandem.engine.scheduler.GenerationListener;
import io.tandem.engine.scheduler.GenerationRequest;
import io.tandem.engine.scheduler.GenerationResult;
import io.tandem.engine.scheduler.TokenOutput;
import io.tandem.engine.template.ChatMessage;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tandem generate}: loads a model (generating the default one when none is given), runs one prompt through
 * the engine, streams the text and prints the prefill and decode speed.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate text for a prompt with the embedded engine and print prefill/decode speed.")
final class GenerateCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, description = "GGUF file. Default: the generated small Q8_0 model at " + "models/tandem-small-q8_0.gguf (written on first use).")
    Path model;

    @Option(names = {"-p", "--prompt"}, defaultValue = "Once upon a time", description = "Prompt. Default: ${DEFAULT-VALUE}")
    String prompt;

    @Option(names = "--chat", description = "Wrap the prompt as a user message with the model's chat template.")
    boolean chat;

    @Option(names = {"-n", "--max-tokens"}, defaultValue = "64", description = "Tokens to generate. Default: ${DEFAULT-VALUE}")
    int maxTokens;

    @Option(names = {"-t", "--temperature"}, defaultValue = "0", description = "0 = greedy. Default: ${DEFAULT-VALUE}")
    float temperature;

    @Option(names = "--top-p", defaultValue = "1")
    float topP;

    @Option(names = "--top-k", defaultValue = "-1")
    int topK;

    @Option(names = "--seed", description = "Sampling seed.")
    Long seed;

    @Option(names = "--ignore-eos", description = "Keep generating past end-of-text.")
    boolean ignoreEos;

    @Option(names = "--threads", defaultValue = "0", description = "Compute threads, 0 = all cores. Default: ${DEFAULT-VALUE}")
    int threads;

    @Option(names = "--kv-blocks", defaultValue = "256")
    int kvBlocks;

    @Option(names = "--block-size", defaultValue = "64")
    int blockSize;

    @Override
    public Integer call() throws Exception {
        Path path = model != null ? model : ModelGenerator.defaultModel();
        long t0 = System.nanoTime();
        try (LoadedModel m = LoadedModel.load(path);
             Engine engine = new Engine(m, EngineConfig.defaults().withKvBlocks(kvBlocks).withBlockSize(blockSize)
                     .withThreads(threads))) {
            ModelConfig c = m.config();
            System.err.printf(Locale.ROOT, "loaded %s: %s, %.1fM parameters, %s, %d layers, KV cache %d tokens, in %.2f s%n",
                    m.name(), c.architecture().ggufName(), m.weights().parameterCount() / 1e6, m.weightType(),
                    c.nLayers(), engine.kvCache().capacityTokens(), (System.nanoTime() - t0) / 1e9);
            String text = chat
                    ? m.chatTemplate().render(List.of(new ChatMessage("user", prompt)), true, Map.of())
                    : prompt;
            int[] ids = m.tokenizer().encode(text, true, chat);
            SamplingParams params = SamplingParams.builder().maxTokens(maxTokens).temperature(temperature)
                    .topP(topP).topK(topK).seed(seed).ignoreEos(ignoreEos).build();
            if (!chat) {
                System.out.print(prompt);
            }
            GenerationListener printer = new GenerationListener() {
                @Override
                public void onToken(TokenOutput t) {
                    System.out.print(t.text());
                    System.out.flush();
                }

                @Override
                public void onFinish(GenerationResult r) {
                }
            };
            GenerationResult r = engine.submit(GenerationRequest.of("generate-1", ids, params), printer).result().join();
            System.out.println();
            if (r.error() != null) {
                System.err.println("error: " + r.error().getMessage());
                return 1;
            }
            double prefillS = r.firstTokenNanos() / 1e9;
            int decoded = r.outputTokens().length - 1;
            double decodeS = (r.totalNanos() - r.firstTokenNanos()) / 1e9;
            System.err.printf(Locale.ROOT, "prefill: %d tokens in %.3f s (%.1f tok/s); decode: %d tokens in %.3f s "
                            + "(%.1f tok/s); finish: %s%n",
                    ids.length, prefillS, ids.length / prefillS, decoded, decodeS,
                    decoded > 0 ? decoded / decodeS : 0.0, r.finishReason().name().toLowerCase(Locale.ROOT));
            return 0;
        }
    }
}
