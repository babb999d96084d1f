package io.tandem.engine.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The engine's command line: {@code tandem gguf-gen} and {@code tandem generate}. The root {@code ./tandem}
 * launcher sends other subcommands to the modules that own them.
 */
@Command(name = "tandem", mixinStandardHelpOptions = true, version = "tandem 0.1.0",
        description = "Tandem: prefill/decode disaggregated LLM serving.",
        subcommands = {GgufGenCommand.class, GenerateCommand.class})
public final class TandemCli implements Runnable {

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new TandemCli()).execute(args));
    }
}
