package serve

// The JSON of the /v1 API. Fields not listed are refused (400).

// ScoreRequest is the body of POST /v1/models/{name}/score.
type ScoreRequest struct {
	// Texts are scored independently, each from the model's initial
	// state: every token after the first is predicted from those before
	// it, so each text needs at least two tokens.
	Texts []string `json:"texts"`
	// LogProbs asks for the log-probability of every predicted token.
	LogProbs bool `json:"log_probs,omitempty"`
}

// ScoreResult is the score of one text.
type ScoreResult struct {
	// Tokens is the number of predicted tokens (the text's tokens less
	// one); Unknown how many of the text's tokens are outside the
	// vocabulary and were read as <unk>.
	Tokens  int `json:"tokens"`
	Unknown int `json:"unknown_tokens"`
	// NLL is the summed negative log-likelihood in nats; NatsPerToken is
	// NLL / Tokens and Perplexity exp(NatsPerToken).
	NLL          float64 `json:"nll"`
	NatsPerToken float64 `json:"nats_per_token"`
	Perplexity   float64 `json:"perplexity"`
	// LogProbs are the per-token log-probabilities, when asked for.
	LogProbs []float64 `json:"log_probs,omitempty"`
}

// ScoreResponse answers a ScoreRequest, one result per text in order.
type ScoreResponse struct {
	Model   string        `json:"model"`
	Results []ScoreResult `json:"results"`
}

// GenerateRequest is the body of POST /v1/models/{name}/generate.
type GenerateRequest struct {
	// Prime is the text to continue; empty starts from a new line.
	Prime string `json:"prime"`
	// MaxTokens is the number of tokens to generate (1 … the server's
	// -max-tokens, prime included); 0 means 100.
	MaxTokens int `json:"max_tokens,omitempty"`
	// Temperature divides the logits: 1 (the default) samples from the
	// model, lower is more conservative. It must be in (0, 100].
	Temperature *float64 `json:"temperature,omitempty"`
	// TopK, when positive, samples among the K most likely tokens only.
	TopK int `json:"top_k,omitempty"`
	// Seed makes the sample reproducible: the same request with the same
	// seed gives the same text, batched or not. Without one the server
	// picks a seed and returns it.
	Seed *uint64 `json:"seed,omitempty"`
	// Stop lists tokens (vocabulary entries, such as "<eos>" or ".")
	// that end the generation once drawn; the stop token is included.
	Stop []string `json:"stop,omitempty"`
	// Stream sends the tokens as they are drawn: server-sent events, or
	// NDJSON when the request's Accept header asks for
	// application/x-ndjson.
	Stream bool `json:"stream,omitempty"`
}

// GenerateResponse answers a GenerateRequest that does not stream, and is
// the last event of one that does (with Done set).
type GenerateResponse struct {
	Model string `json:"model"`
	// Text is the generated text (the prime not included), Tokens the
	// number of tokens in it.
	Text   string `json:"text"`
	Tokens int    `json:"tokens"`
	// FinishReason is "length" (MaxTokens reached) or "stop" (a Stop
	// token drawn).
	FinishReason string `json:"finish_reason"`
	// Seed is the seed the sample was drawn with.
	Seed uint64 `json:"seed"`
	// Done marks the last event of a stream.
	Done bool `json:"done,omitempty"`
}

// TokenEvent is one event of a streamed generation: the next piece of
// text (the token, with the space a word model puts before it).
type TokenEvent struct {
	Token string `json:"token"`
}

// TranslateRequest is the body of POST /v1/models/{name}/translate.
type TranslateRequest struct {
	// Sources are the sentences to translate, each non-empty.
	Sources []string `json:"sources"`
	// Beam is the beam width; 0 or 1 decodes greedily.
	Beam int `json:"beam,omitempty"`
	// NBest is the number of hypotheses returned per source, best first
	// (at most Beam; default 1).
	NBest int `json:"n_best,omitempty"`
	// MaxLen bounds the output tokens (0: twice the longest source plus
	// 10).
	MaxLen int `json:"max_len,omitempty"`
	// LengthPenalty is the beam search's α: scores are log p / length^α.
	LengthPenalty float64 `json:"length_penalty,omitempty"`
	// Temperature, when positive, samples each output instead of
	// searching, from Seed (each source its own generator, so batching
	// does not change the samples).
	Temperature float64 `json:"temperature,omitempty"`
	Seed        *uint64 `json:"seed,omitempty"`
}

// Hypothesis is one output of a translation.
type Hypothesis struct {
	Text string `json:"text"`
	// LogProb is the model's log-probability of the output (and of EOS,
	// if Finished); Score is what the beam search ranked by.
	LogProb  float64 `json:"log_prob"`
	Score    float64 `json:"score"`
	Finished bool    `json:"finished"`
}

// TranslateResult holds the hypotheses of one source, best first.
type TranslateResult struct {
	Hypotheses []Hypothesis `json:"hypotheses"`
	Unknown    int          `json:"unknown_tokens"`
}

// TranslateResponse answers a TranslateRequest, one result per source.
type TranslateResponse struct {
	Model   string            `json:"model"`
	Results []TranslateResult `json:"results"`
}

// ModelList answers GET /v1/models.
type ModelList struct {
	Models []ModelInfo `json:"models"`
}
