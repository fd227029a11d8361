FROM ruby:3.3.4-slim-bookworm
WORKDIR /rails
RUN apt-get update -qq \
    && apt-get install --no-install-recommends -y libpq5 \
    && rm -rf /var/lib/apt/lists /var/cache/apt/archives
COPY Gemfile Gemfile.lock ./
RUN bundle config set --local without 'development test' && bundle install
COPY . .
RUN useradd rails --create-home --shell /bin/bash && chown -R rails:rails db log tmp
USER rails:rails
EXPOSE 3000
CMD ["./bin/rails", "server", "-b", "0.0.0.0"]
