package io.tandem.controller.pairing;

/** A prefill engine and a decode engine, by url (= engine id). */
public record PairKey(String prefillUrl, String decodeUrl) {
    public boolean involves(String url) {
        return prefillUrl.equals(url) || decodeUrl.equals(url);
    }

    @Override
    public String toString() {
        return prefillUrl + " -> " + decodeUrl;
    }
}
